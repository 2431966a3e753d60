using System.Runtime.InteropServices;
using PciKit.Linux.Interop;

namespace PciKit.Linux;

/// <summary>
/// Owns one Linux file descriptor and closes it exactly once (on <see cref="SafeHandle.Dispose()"/>, or by the
/// finalizer as a last resort). Every descriptor this assembly creates is close-on-exec.
/// </summary>
/// <remarks>
/// Native calls take the <see cref="SafeFd"/> itself, so the runtime keeps the descriptor open for the
/// duration of each call even when another thread disposes it; the number is reused only after the last
/// call returns. Use <see cref="SafeHandle.DangerousGetHandle"/> only to print or hand the number to code
/// that cannot take a handle, and keep the <see cref="SafeFd"/> alive meanwhile.
/// </remarks>
public sealed class SafeFd : SafeHandle
{
    /// <summary>Wraps an existing descriptor.</summary>
    /// <param name="fd">The descriptor number.</param>
    /// <param name="ownsHandle"><see langword="true"/> to close it when this handle is released.</param>
    public SafeFd(int fd, bool ownsHandle)
        : base(-1, ownsHandle)
    {
        SetHandle(fd);
    }

    /// <inheritdoc />
    public override bool IsInvalid => (long)handle < 0;

    /// <summary>
    /// Duplicates the descriptor with <c>fcntl(F_DUPFD_CLOEXEC)</c>. The duplicate shares the open file
    /// description (offset, status flags) and is closed independently.
    /// </summary>
    /// <returns>A new owner of the duplicate.</returns>
    public SafeFd Duplicate()
    {
        int fd = ThrowHelper.Check(Libc.Fcntl(this, Libc.F_DUPFD_CLOEXEC, 0), "fcntl(F_DUPFD_CLOEXEC)");
        return new SafeFd(fd, ownsHandle: true);
    }

    /// <summary>
    /// Opens the same file again, read-only, through <c>/proc/self/fd/N</c> (O_RDONLY | O_CLOEXEC): a new open file
    /// description whose access mode forbids writes, so <c>mmap(PROT_WRITE, MAP_SHARED)</c>, <c>mprotect</c> to
    /// writable and <c>write(2)</c> on it fail — for handing memory (a memfd, shm) to a process that may only read it.
    /// </summary>
    /// <remarks>
    /// The receiver holds a descriptor of the same file: a process allowed to open the file for writing by its mode
    /// (the same user, or root) could still reopen its own <c>/proc/self/fd</c> entry writable. The access mode stops
    /// writes through this descriptor; file permissions are what stop a reopen.
    /// </remarks>
    /// <returns>A new owner of the read-only descriptor.</returns>
    public SafeFd ReopenReadOnly()
    {
        bool added = false;
        try
        {
            DangerousAddRef(ref added);
            string path = "/proc/self/fd/" + DangerousGetFd().ToString(System.Globalization.CultureInfo.InvariantCulture);
            return ThrowHelper.CheckFd(Libc.Open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0), "open", path + ", O_RDONLY");
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    /// <summary>Whether the open file description allows writing (access mode O_WRONLY or O_RDWR).</summary>
    public bool IsWritable => (ThrowHelper.Check(Libc.Fcntl(this, Libc.F_GETFL, 0), "fcntl(F_GETFL)") & Libc.O_ACCMODE) != Libc.O_RDONLY;

    /// <summary>Whether <c>O_NONBLOCK</c> is set on the open file description (shared with duplicates and peers).</summary>
    public bool IsNonBlocking
    {
        get => (ThrowHelper.Check(Libc.Fcntl(this, Libc.F_GETFL, 0), "fcntl(F_GETFL)") & Libc.O_NONBLOCK) != 0;
        set
        {
            int flags = ThrowHelper.Check(Libc.Fcntl(this, Libc.F_GETFL, 0), "fcntl(F_GETFL)");
            int updated = value ? flags | Libc.O_NONBLOCK : flags & ~Libc.O_NONBLOCK;
            if (updated != flags)
            {
                ThrowHelper.Check(Libc.Fcntl(this, Libc.F_SETFL, updated), "fcntl(F_SETFL)");
            }
        }
    }

    /// <summary>Whether FD_CLOEXEC is set on this descriptor.</summary>
    public bool IsCloseOnExec => (ThrowHelper.Check(Libc.Fcntl(this, Libc.F_GETFD, 0), "fcntl(F_GETFD)") & Libc.FD_CLOEXEC) != 0;

    /// <summary>
    /// Sets or clears FD_CLOEXEC on this descriptor (not on duplicates). Clearing it lets a child process started
    /// afterwards inherit the descriptor under the same number — e.g. the socket QEMU's <c>x-pci-proxy-dev,fd=N</c>
    /// takes. Every child started while the flag is clear inherits it, so clear it just before starting the child and
    /// dispose this handle (or set the flag again) right after.
    /// </summary>
    /// <param name="closeOnExec"><see langword="false"/> to let children inherit the descriptor.</param>
    public void SetCloseOnExec(bool closeOnExec)
    {
        int flags = ThrowHelper.Check(Libc.Fcntl(this, Libc.F_GETFD, 0), "fcntl(F_GETFD)");
        int updated = closeOnExec ? flags | Libc.FD_CLOEXEC : flags & ~Libc.FD_CLOEXEC;
        if (updated != flags)
        {
            ThrowHelper.Check(Libc.Fcntl(this, Libc.F_SETFD, updated), "fcntl(F_SETFD)");
        }
    }

    /// <summary>The size reported by statx(2) (bytes for files, memfds and shm objects).</summary>
    public ulong GetSize() => Libc.FStat(this).Size;

    /// <summary>The raw number. Callers hold a reference (DangerousAddRef) or otherwise keep this alive.</summary>
    internal int DangerousGetFd() => (int)DangerousGetHandle();

    /// <inheritdoc />
    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;

    /// <inheritdoc />
    public override string ToString() => IsClosed ? "fd(closed)" : $"fd({(int)handle})";
}
