namespace PciKit.Linux.Tests;

public sealed class ReopenReadOnlyTests
{
    [Fact]
    public void A_read_only_reopen_sees_the_same_memory_and_cannot_be_mapped_writable()
    {
        using var memfd = SharedMemory.CreateMemFd("pk-reopen", 8192);
        using var writable = MemoryMapping.Map(memfd, 0, 8192);
        writable.Write<ulong>(0x1000, 0xFEED);

        using var readOnly = memfd.ReopenReadOnly();

        Assert.True(memfd.IsWritable);
        Assert.False(readOnly.IsWritable);
        Assert.True(readOnly.IsCloseOnExec);
        Assert.NotEqual(TestSupport.RawFd(memfd), TestSupport.RawFd(readOnly));
        var e = Assert.Throws<LinuxException>(() => MemoryMapping.Map(readOnly, 0, 8192, MappingAccess.ReadWrite));
        Assert.Equal("EACCES", e.ErrorName);
        using var view = MemoryMapping.Map(readOnly, 0, 8192, MappingAccess.ReadOnly);
        Assert.Equal(0xFEEDUL, view.Read<ulong>(0x1000));
        writable.Write<ulong>(0x1000, 0xBEEF);
        Assert.Equal(0xBEEFUL, view.Read<ulong>(0x1000));
    }

    [Fact]
    public void Reopening_a_closed_descriptor_throws_ObjectDisposedException()
    {
        var memfd = SharedMemory.CreateMemFd("pk-reopen-closed", 4096);
        memfd.Dispose();
        Assert.Throws<ObjectDisposedException>(() => memfd.ReopenReadOnly());
    }
}
