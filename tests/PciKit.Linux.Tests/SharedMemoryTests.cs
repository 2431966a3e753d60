namespace PciKit.Linux.Tests;

public sealed class SharedMemoryTests
{
    [Fact]
    public void MemFdHasSizeAndCloseOnExec()
    {
        using SafeFd fd = SharedMemory.CreateMemFd("pcikit-test", 3 * 4096);
        Assert.Equal(3ul * 4096, fd.GetSize());
        Assert.True(fd.IsCloseOnExec);
        Assert.StartsWith("/memfd:pcikit-test", new FileInfo($"/proc/self/fd/{TestSupport.RawFd(fd)}").LinkTarget, StringComparison.Ordinal);
    }

    [Fact]
    public void MemFdWithSealingAcceptsSeals()
    {
        using SafeFd fd = SharedMemory.CreateMemFd("sealable", 4096, MemFdOptions.AllowSealing);
        Assert.Equal(0, Interop.Libc.Fcntl(fd, Interop.Libc.F_ADD_SEALS, 4 /* F_SEAL_GROW */));
        using SafeFd plain = SharedMemory.CreateMemFd("plain", 4096);
        Assert.Equal(-1, Interop.Libc.Fcntl(plain, Interop.Libc.F_ADD_SEALS, 4));
    }

    [Fact]
    public void DuplicateSharesTheFileAndClosesIndependently()
    {
        using SafeFd fd = SharedMemory.CreateMemFd("dup", 4096);
        SafeFd dup = fd.Duplicate();
        int raw = TestSupport.RawFd(dup);
        Assert.NotEqual(TestSupport.RawFd(fd), raw);
        Assert.True(dup.IsCloseOnExec);
        using (var a = MemoryMapping.Map(fd, 0, 4096))
        using (var b = MemoryMapping.Map(dup, 0, 4096))
        {
            a.Write<uint>(8, 0xfeedface);
            Assert.Equal(0xfeedfaceu, b.Read<uint>(8));
        }

        dup.Dispose();
        dup.Dispose();
        Assert.True(dup.IsClosed);
        Assert.Equal(4096ul, fd.GetSize());
    }

    [Fact]
    public void OpenOrCreateShmCreatesOnceAndKeepsSizeAndContent()
    {
        string name = "pcikit-test-" + Guid.NewGuid().ToString("N");
        try
        {
            using (SafeFd first = SharedMemory.OpenOrCreateShm(name))
            {
                Assert.Equal(0ul, first.GetSize());
                Assert.Equal("0700", Convert.ToString((int)File.GetUnixFileMode("/dev/shm/" + name), 8).PadLeft(4, '0'));
                SharedMemory.SetSize(first, 8192);
                using var m = MemoryMapping.Map(first, 0, 8192);
                m.Write<uint>(4096, 0xabcdef01);
            }

            using SafeFd again = SharedMemory.OpenOrCreateShm("/" + name);
            Assert.Equal(8192ul, again.GetSize());
            using var view = MemoryMapping.Map(again, 0, 8192);
            Assert.Equal(0xabcdef01u, view.Read<uint>(4096));
        }
        finally
        {
            SharedMemory.UnlinkShm(name);
        }
    }

    [Fact]
    public void CreateUnlinkedFileLeavesNoNameAndIsSharedThroughTheDescriptor()
    {
        string dir = Directory.CreateTempSubdirectory("pk").FullName;
        try
        {
            using SafeFd fd = SharedMemory.CreateUnlinkedFile(dir, "ivshmem");
            Assert.Empty(Directory.GetFileSystemEntries(dir));
            Assert.True(fd.IsCloseOnExec);
            SharedMemory.SetSize(fd, 3 * 4096);
            Assert.Equal(3ul * 4096, fd.GetSize());
            using SafeFd dup = fd.Duplicate();
            using var a = MemoryMapping.Map(fd, 0, 4096);
            using var b = MemoryMapping.Map(dup, 0, 4096);
            a.Write<ulong>(0, 7);
            Assert.Equal(7ul, b.Read<ulong>(0));
            Assert.Throws<LinuxException>(() => SharedMemory.CreateUnlinkedFile(Path.Combine(dir, "missing"), "x"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ShmCreateOpenUnlink()
    {
        string name = "pcikit-test-" + Guid.NewGuid().ToString("N");
        using SafeFd created = SharedMemory.OpenShm(name, 8192, create: true);
        try
        {
            Assert.Equal("0600", Convert.ToString((int)File.GetUnixFileMode("/dev/shm/" + name), 8).PadLeft(4, '0'));
            Assert.Throws<LinuxException>(() => SharedMemory.OpenShm(name, 8192, create: true));
            using SafeFd opened = SharedMemory.OpenShm("/" + name, 0, create: false);
            Assert.Equal(8192ul, opened.GetSize());
            using var a = MemoryMapping.Map(created, 4096, 4096);
            using var b = MemoryMapping.Map(opened, 4096, 4096);
            a.Write<ulong>(0, 42);
            Assert.Equal(42ul, b.Read<ulong>(0));
        }
        finally
        {
            SharedMemory.UnlinkShm(name);
        }

        Assert.False(File.Exists("/dev/shm/" + name));
        Assert.Throws<ArgumentException>(() => SharedMemory.OpenShm("a/b", 0, create: false));
    }

    [Fact]
    public void HugeTlbFileOpensWhereMounted()
    {
        const string mount = "/dev/hugepages";
        if (!Directory.Exists(mount))
        {
            // No hugetlbfs here: the open path is the same as OpenShm's; assert the error is typed.
            Assert.Throws<LinuxException>(() => SharedMemory.OpenHugeTlbFile(mount + "/pcikit-test", 2 << 20));
            return;
        }

        string path = mount + "/pcikit-test-" + Guid.NewGuid().ToString("N");
        try
        {
            using SafeFd fd = SharedMemory.OpenHugeTlbFile(path, 2 << 20);
            Assert.Equal(2ul << 20, fd.GetSize());
        }
        catch (LinuxException ex) when (ex.ErrorName is "EINVAL" or "ENOMEM" or "EACCES")
        {
            // Mounted but no huge pages reserved, or not writable.
        }
        finally
        {
            File.Delete(path);
        }
    }
}
