using PciKit.Linux.Interop;

namespace PciKit.Linux;

/// <summary>Options for <see cref="SharedMemory.CreateMemFd"/>.</summary>
[Flags]
public enum MemFdOptions
{
    /// <summary>A plain memfd.</summary>
    None = 0,

    /// <summary>MFD_ALLOW_SEALING: seals (F_ADD_SEALS) may be applied later.</summary>
    AllowSealing = 1,

    /// <summary>MFD_HUGETLB: back the memfd with the default huge page size; the size must be a multiple of it.</summary>
    HugeTlb = 2,
}

/// <summary>Creates and opens shareable memory objects: memfd, POSIX shm under /dev/shm, and hugetlbfs files.</summary>
public static class SharedMemory
{
    private const string ShmDirectory = "/dev/shm/";

    /// <summary>Creates an anonymous memory file with <c>memfd_create(MFD_CLOEXEC)</c> and sets its size.</summary>
    /// <param name="name">A debugging name (shown in /proc/self/fd as <c>memfd:name</c>); at most 249 bytes.</param>
    /// <param name="size">The size in bytes.</param>
    /// <param name="options">Sealing and huge page options.</param>
    /// <returns>The owner of the descriptor.</returns>
    public static SafeFd CreateMemFd(string name, ulong size, MemFdOptions options = MemFdOptions.None)
    {
        ArgumentNullException.ThrowIfNull(name);
        uint flags = Libc.MFD_CLOEXEC;
        if ((options & MemFdOptions.AllowSealing) != 0)
        {
            flags |= Libc.MFD_ALLOW_SEALING;
        }

        if ((options & MemFdOptions.HugeTlb) != 0)
        {
            flags |= Libc.MFD_HUGETLB;
        }

        SafeFd fd = ThrowHelper.CheckFd(Libc.MemfdCreate(name, flags), "memfd_create", name);
        return Resize(fd, size, name);
    }

    /// <summary>
    /// Opens (and optionally creates) a POSIX shared memory object, like shm_open(3): the file
    /// <c>/dev/shm/<paramref name="name"/></c> opened read-write with O_CLOEXEC.
    /// </summary>
    /// <param name="name">Object name without slashes.</param>
    /// <param name="size">When creating, the size to set; ignored when opening an existing object with <paramref name="create"/> false.</param>
    /// <param name="create"><see langword="true"/> to create it exclusively (fails with EEXIST if it exists).</param>
    /// <param name="mode">Permissions for a new object; 0600 by default.</param>
    /// <returns>The owner of the descriptor.</returns>
    public static SafeFd OpenShm(string name, ulong size, bool create, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        string path = ShmPath(name);
        int flags = Libc.O_RDWR | Libc.O_CLOEXEC | (create ? Libc.O_CREAT | Libc.O_EXCL : 0);
        SafeFd fd = ThrowHelper.CheckFd(Libc.Open(path, flags, (uint)mode), "open", path);
        return create ? Resize(fd, size, path) : fd;
    }

    /// <summary>Removes a POSIX shared memory object's name, like shm_unlink(3). Existing mappings stay valid.</summary>
    /// <param name="name">Object name without slashes.</param>
    public static void UnlinkShm(string name)
    {
        string path = ShmPath(name);
        ThrowHelper.Check(Libc.Unlink(path), "unlink", path);
    }

    /// <summary>
    /// Opens (creating if needed) a file on a hugetlbfs mount (e.g. <c>/dev/hugepages/guest-ram</c>) with
    /// O_CLOEXEC and sets its size, which must be a multiple of the mount's huge page size.
    /// </summary>
    /// <param name="path">The file path on a hugetlbfs mount.</param>
    /// <param name="size">The size to set.</param>
    /// <param name="mode">Permissions if created; 0600 by default.</param>
    /// <returns>The owner of the descriptor.</returns>
    public static SafeFd OpenHugeTlbFile(string path, ulong size, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        SafeFd fd = ThrowHelper.CheckFd(Libc.Open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC, (uint)mode), "open", path);
        return Resize(fd, size, path);
    }

    /// <summary>
    /// Opens a POSIX shared memory object, creating it if it does not exist (shm_open with O_CREAT and without O_EXCL,
    /// as QEMU's ivshmem-server does), without changing its size: an existing object keeps its size and content.
    /// </summary>
    /// <param name="name">Object name without slashes (a leading slash is allowed).</param>
    /// <param name="mode">Permissions if created; 0700 by default (QEMU's S_IRWXU).</param>
    /// <returns>The owner of the descriptor (O_RDWR, O_CLOEXEC).</returns>
    public static SafeFd OpenOrCreateShm(string name, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute)
    {
        string path = ShmPath(name);
        return ThrowHelper.CheckFd(Libc.Open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC, (uint)mode), "open", path);
    }

    /// <summary>
    /// Creates a new file with a unique name in <paramref name="directory"/> (O_CREAT | O_EXCL, like mkstemp(3)) and removes
    /// its name at once, so only the returned descriptor (and whoever it is passed to) reaches it and nothing is left behind
    /// when the last descriptor closes. For memory on a hugetlbfs mount (e.g. <c>/dev/hugepages</c>) or any tmpfs.
    /// </summary>
    /// <param name="directory">An existing directory.</param>
    /// <param name="prefix">The first part of the temporary name.</param>
    /// <param name="mode">Permissions while the name exists; 0600 by default.</param>
    /// <returns>The owner of the descriptor (O_RDWR, O_CLOEXEC), size 0.</returns>
    public static SafeFd CreateUnlinkedFile(string directory, string prefix, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        for (int attempt = 0; ; attempt++)
        {
            string path = Path.Combine(directory, $"{prefix}.{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6))}");
            int fd = Libc.Open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, (uint)mode);
            if (fd < 0)
            {
                int errno = ThrowHelper.LastErrno;
                if (errno == Errno.EEXIST && attempt < 100)
                {
                    continue;
                }

                ThrowHelper.Throw(errno, "open", path);
            }

            var owner = new SafeFd(fd, ownsHandle: true);
            _ = Libc.Unlink(path);
            return owner;
        }
    }

    /// <summary>Sets the size of a memory file (ftruncate(2)); on hugetlbfs it must be a multiple of the huge page size.</summary>
    /// <param name="fd">The descriptor.</param>
    /// <param name="size">The new size in bytes.</param>
    /// <exception cref="LinuxException">EINVAL when the file system refuses the size (hugetlbfs), ENOSPC/ENOMEM …</exception>
    public static void SetSize(SafeFd fd, ulong size)
    {
        ArgumentNullException.ThrowIfNull(fd);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, (ulong)long.MaxValue);
        ThrowHelper.Check(Libc.Ftruncate(fd, (long)size), "ftruncate");
    }

    private static SafeFd Resize(SafeFd fd, ulong size, string subject)
    {
        try
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThan(size, (ulong)long.MaxValue);
            ThrowHelper.Check(Libc.Ftruncate(fd, (long)size), "ftruncate", subject);
            return fd;
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    private static string ShmPath(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        string trimmed = name.StartsWith('/') ? name[1..] : name;
        if (trimmed.Length == 0 || trimmed.Contains('/', StringComparison.Ordinal) || trimmed is "." or "..")
        {
            throw new ArgumentException($"'{name}' is not a valid shared memory object name (one path component).", nameof(name));
        }

        return ShmDirectory + trimmed;
    }
}
