using PciKit.Linux;

namespace PciKit.Ivshmem;

/// <summary>Opens the server's memory (POSIX shm or an unlinked hugetlbfs file) and gives it a power-of-two size.</summary>
internal static class SharedMemorySetup
{
    /// <summary>QEMU's server stops doubling at the largest huge page size, 1 GiB.</summary>
    internal const ulong LargestHugePage = 1UL << 30;

    internal static (SafeFd Fd, ulong Size) Open(IvshmemServerOptions options)
    {
        SafeFd fd;
        string subject;
        bool created = false;
        if (options.HugeTlbDirectory is { } directory)
        {
            fd = SharedMemory.CreateUnlinkedFile(directory, "ivshmem");
            subject = directory;
        }
        else
        {
            subject = "/dev/shm/" + options.SharedMemoryName.TrimStart('/');
            created = !File.Exists(subject);
            fd = SharedMemory.OpenOrCreateShm(options.SharedMemoryName);
        }

        try
        {
            ulong size = Grow(options.Size, fd.GetSize(), s => TrySetSize(fd, s), subject);
            return (fd, size);
        }
        catch
        {
            fd.Dispose();
            if (created)
            {
                TryUnlink(options.SharedMemoryName); // only an object this start created; never someone else's
            }

            throw;
        }
    }

    /// <summary>
    /// QEMU's rule: round the request up to a power of two; keep a file that already has that size; otherwise try that size
    /// and each following power of two up to 1 GiB (or the rounded request, when larger) until the file system accepts one.
    /// </summary>
    internal static ulong Grow(ulong requested, ulong current, Func<ulong, LinuxException?> trySetSize, string subject)
    {
        ulong size = IvshmemSize.RoundUp(requested);
        if (current == size)
        {
            return size;
        }

        ulong limit = Math.Max(size, LargestHugePage);
        LinuxException? last = null;
        for (ulong attempt = size; attempt <= limit; attempt <<= 1)
        {
            last = trySetSize(attempt);
            if (last is null)
            {
                return attempt;
            }
        }

        throw new IvshmemException(
            $"ftruncate({subject}) failed for every power of two from {IvshmemSize.Format(size)} to {IvshmemSize.Format(limit)} " +
            $"({last?.ErrorName}); on hugetlbfs make sure huge pages are reserved (/proc/sys/vm/nr_hugepages).", last);
    }

    internal static void TryUnlink(string name)
    {
        try
        {
            SharedMemory.UnlinkShm(name);
        }
        catch (LinuxException)
        {
            // Already gone (another server, or the user removed it).
        }
    }

    private static LinuxException? TrySetSize(SafeFd fd, ulong size)
    {
        try
        {
            SharedMemory.SetSize(fd, size);
            return null;
        }
        catch (LinuxException e)
        {
            return e;
        }
    }
}
