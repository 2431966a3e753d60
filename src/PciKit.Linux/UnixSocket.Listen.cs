using PciKit.Linux.Interop;

namespace PciKit.Linux;

public sealed partial class UnixSocket
{
    /// <summary>
    /// Creates a listening socket at <paramref name="path"/> whose file has <see cref="UnixListenOptions.Mode"/>
    /// (0600 by default) before any client can connect.
    /// </summary>
    /// <param name="path">The socket path (at most 107 bytes in UTF-8).</param>
    /// <param name="options">Mode, stale-file handling, backlog.</param>
    /// <returns>The listener.</returns>
    /// <exception cref="SocketPathInUseException">The path exists: a stale socket file (unless
    /// <see cref="UnixListenOptions.ReplaceStaleSocket"/>), a running server, or not a socket.</exception>
    /// <remarks>
    /// The mode is applied with chmod(2) between bind(2) and listen(2). A socket that is bound but not yet
    /// listening refuses every connect (ECONNREFUSED), and permission is checked at connect time, so no
    /// client can connect under the umask-derived mode. This avoids umask(2), which is process-wide and
    /// would race with other threads creating files; fchmod(2) on the socket descriptor does not change the
    /// file's mode on Linux.
    /// </remarks>
    public static UnixSocket Listen(string path, UnixListenOptions? options = null)
    {
        options ??= new UnixListenOptions();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Backlog, nameof(options.Backlog));
        SafeFd fd = CreateSocket(options.NonBlocking);
        bool bound = false;
        try
        {
            int errno = BindCore(fd, path);
            if (errno == Errno.EADDRINUSE)
            {
                SocketPathState state = ProbeExistingPath(path);
                if (state != SocketPathState.Stale || !options.ReplaceStaleSocket)
                {
                    throw new SocketPathInUseException(path, state);
                }

                // Replace the stale file. Another process doing the same may win the second bind: then EADDRINUSE stands.
                if (Libc.Unlink(path) < 0 && ThrowHelper.LastErrno != Errno.ENOENT)
                {
                    ThrowHelper.ThrowLastError("unlink", path);
                }

                errno = BindCore(fd, path);
                if (errno == Errno.EADDRINUSE)
                {
                    throw new SocketPathInUseException(path, ProbeExistingPath(path));
                }
            }

            if (errno != 0)
            {
                ThrowHelper.Throw(errno, "bind", path);
            }

            bound = true;
            ThrowHelper.Check(Libc.Chmod(path, (uint)options.Mode), "chmod", path);
            FileStatus status = Stat(path);
            ThrowHelper.Check(Libc.Listen(fd, options.Backlog), "listen", path);
            return new UnixSocket(fd, new ListenerPath(path, status, options.DeleteOnDispose));
        }
        catch
        {
            if (bound)
            {
                _ = Libc.Unlink(path);
            }

            fd.Dispose();
            throw;
        }
    }

    private static unsafe int BindCore(SafeFd fd, string path)
    {
        byte* address = stackalloc byte[SockAddrUn.Size];
        uint length = SockAddrUn.Write(path, new Span<byte>(address, SockAddrUn.Size));
        return Libc.Bind(fd, address, length) == 0 ? 0 : ThrowHelper.LastErrno;
    }

    /// <summary>
    /// Classifies an existing path by trying to connect with a non-blocking socket: success or EAGAIN
    /// (backlog full) means a server listens; ECONNREFUSED means a stale file. A server that has bound but not
    /// yet called listen also refuses, so it briefly looks stale.
    /// </summary>
    private static SocketPathState ProbeExistingPath(string path)
    {
        int statErrno = Libc.TryStat(path, out FileStatus status);
        if (statErrno == 0 && !status.IsSocket)
        {
            return SocketPathState.NotASocket;
        }

        using SafeFd probe = CreateSocket(nonBlocking: true);
        int errno = ConnectCore(probe, path);
        return errno switch
        {
            0 or Errno.EAGAIN or Errno.EINPROGRESS => SocketPathState.ServerRunning,
            Errno.ECONNREFUSED => SocketPathState.Stale,
            _ => throw new LinuxException(errno, $"connect({path})",
                $"'{path}' exists but could not be probed ({Errno.Name(errno)}); remove it if no server uses it."),
        };
    }

    private static FileStatus Stat(string path)
    {
        int errno = Libc.TryStat(path, out FileStatus status);
        if (errno != 0)
        {
            ThrowHelper.Throw(errno, "statx", path);
        }

        return status;
    }

    /// <summary>The file a listener created, identified by device and inode so that dispose never removes a successor's file.</summary>
    private sealed class ListenerPath(string path, FileStatus created, bool deleteOnDispose)
    {
        internal string Path { get; } = path;

        internal void DeleteIfOurs()
        {
            if (deleteOnDispose
                && Libc.TryStat(Path, out FileStatus now) == 0
                && now.Inode == created.Inode && now.DevMajor == created.DevMajor && now.DevMinor == created.DevMinor)
            {
                _ = Libc.Unlink(Path);
            }
        }
    }
}
