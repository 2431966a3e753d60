using PciKit.Linux.Interop;

namespace PciKit.Linux;

/// <summary>
/// An AF_UNIX SOCK_STREAM socket: listener, server-side connection, client, or one end of a socketpair.
/// Sends and receives data with descriptors attached (SCM_RIGHTS) without allocating in steady state.
/// </summary>
/// <remarks>
/// One thread may send while another receives. Concurrent sends (or concurrent receives) interleave bytes
/// and must be serialised by the caller. Disposing a listener shuts it down first, which wakes a thread
/// blocked in <see cref="Accept"/>; for a connection, call <see cref="Shutdown"/> to wake a blocked
/// <see cref="Receive"/> before disposing.
/// </remarks>
public sealed partial class UnixSocket : IDisposable
{
    private readonly ListenerPath? _listenerPath;

    private UnixSocket(SafeFd handle, ListenerPath? listenerPath = null)
    {
        Handle = handle;
        _listenerPath = listenerPath;
    }

    /// <summary>The socket descriptor, owned by this object.</summary>
    public SafeFd Handle { get; }

    /// <summary>The path a listener is bound to; <see langword="null"/> for other sockets.</summary>
    public string? Path => _listenerPath?.Path;

    /// <summary>Whether calls return EAGAIN (Try* methods return false) instead of waiting.</summary>
    public bool IsNonBlocking
    {
        get => Handle.IsNonBlocking;
        set => Handle.IsNonBlocking = value;
    }

    /// <summary>Takes ownership of a descriptor that refers to a connected or listening AF_UNIX stream socket.</summary>
    /// <param name="handle">The descriptor.</param>
    /// <returns>The wrapper.</returns>
    public static UnixSocket FromHandle(SafeFd handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        return new UnixSocket(handle);
    }

    /// <summary>Connects to the server listening at <paramref name="path"/>.</summary>
    /// <param name="path">The socket path.</param>
    /// <returns>The connected socket (blocking).</returns>
    /// <exception cref="LinuxException">ENOENT when nothing exists at the path, ECONNREFUSED when nobody listens.</exception>
    public static UnixSocket Connect(string path)
    {
        SafeFd fd = CreateSocket(nonBlocking: false);
        int errno = ConnectCore(fd, path);
        if (errno != 0)
        {
            fd.Dispose();
            ThrowHelper.Throw(errno, "connect", path);
        }

        return new UnixSocket(fd);
    }

    /// <summary>Creates a connected pair with socketpair(2), e.g. for a child process or a test.</summary>
    /// <returns>The two ends (blocking).</returns>
    public static unsafe (UnixSocket First, UnixSocket Second) CreatePair()
    {
        int* fds = stackalloc int[2];
        ThrowHelper.Check(Libc.SocketPair(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0, fds), "socketpair");
        var first = new SafeFd(fds[0], ownsHandle: true);
        var second = new SafeFd(fds[1], ownsHandle: true);
        return (new UnixSocket(first), new UnixSocket(second));
    }

    /// <summary>Accepts a connection, waiting for one if the listener is blocking.</summary>
    /// <returns>The connection (blocking, close-on-exec).</returns>
    /// <exception cref="LinuxException">EAGAIN on a non-blocking listener with no pending connection; EINVAL after <see cref="Dispose"/>.</exception>
    public UnixSocket Accept() =>
        TryAccept() ?? throw new LinuxException(Errno.EAGAIN, "accept4");

    /// <summary>Accepts a pending connection; <see langword="null"/> when a non-blocking listener has none.</summary>
    /// <returns>The connection or <see langword="null"/>.</returns>
    public UnixSocket? TryAccept()
    {
        while (true)
        {
            int fd = Libc.Accept4(Handle, 0, 0, Libc.SOCK_CLOEXEC);
            if (fd >= 0)
            {
                return new UnixSocket(new SafeFd(fd, ownsHandle: true));
            }

            int errno = ThrowHelper.LastErrno;
            if (errno == Errno.EAGAIN)
            {
                return null;
            }

            // ECONNABORTED: the peer gave up before we accepted; try the next one.
            if (errno is not (Errno.EINTR or Errno.ECONNABORTED))
            {
                ThrowHelper.Throw(errno, "accept4", Path);
            }
        }
    }

    /// <summary>
    /// Asks for a send buffer of <paramref name="bytes"/> (SO_SNDBUF; the kernel caps it at net.core.wmem_max) and
    /// returns the size the kernel granted. A large buffer lets a big message (a 1 MiB DMA transfer) go out in one
    /// hand-off instead of several. On a UNIX stream socket the sender's buffer is what bounds data in flight.
    /// </summary>
    public unsafe int SetSendBufferSize(int bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        int value = bytes;
        if (Libc.SetSockOpt(Handle, Libc.SOL_SOCKET, Libc.SO_SNDBUF, &value, sizeof(int)) != 0)
            ThrowHelper.ThrowLastError("setsockopt(SO_SNDBUF)");
        int granted = 0;
        uint length = sizeof(int);
        if (Libc.GetSockOpt(Handle, Libc.SOL_SOCKET, Libc.SO_SNDBUF, &granted, &length) != 0)
            ThrowHelper.ThrowLastError("getsockopt(SO_SNDBUF)");
        return granted;
    }

    /// <summary>
    /// Waits up to <paramref name="timeoutMilliseconds"/> (negative: forever) until the socket has data to read, or
    /// the peer hung up (a receive then returns 0). Returns false on timeout.
    /// </summary>
    public bool WaitReadable(int timeoutMilliseconds) => Libc.PollOne(Handle, PollEvents.Readable, timeoutMilliseconds);

    /// <summary>Shuts down reading, writing or both; the peer sees end-of-file after a write shutdown.</summary>
    /// <param name="how">Which directions.</param>
    public void Shutdown(ShutdownMode how = ShutdownMode.Both)
    {
        int flag = how switch
        {
            ShutdownMode.Receive => Libc.SHUT_RD,
            ShutdownMode.Send => Libc.SHUT_WR,
            _ => Libc.SHUT_RDWR,
        };
        ThrowHelper.Check(Libc.Shutdown(Handle, flag), "shutdown");
    }

    /// <summary>The peer's credentials, captured by the kernel at connect/socketpair time.</summary>
    /// <returns>The process, user and group ids.</returns>
    public unsafe PeerCredentials GetPeerCredentials()
    {
        UCred cred;
        uint length = (uint)sizeof(UCred);
        ThrowHelper.Check(Libc.GetSockOpt(Handle, Libc.SOL_SOCKET, Libc.SO_PEERCRED, &cred, &length), "getsockopt(SO_PEERCRED)");
        return new PeerCredentials(cred.Pid, cred.Uid, cred.Gid);
    }

    /// <summary>Closes the socket. A listener is shut down first (waking Accept) and its file removed if still ours.</summary>
    public void Dispose()
    {
        if (Handle.IsClosed)
        {
            return;
        }

        if (_listenerPath is not null)
        {
            _ = Libc.Shutdown(Handle, Libc.SHUT_RDWR);
            _listenerPath.DeleteIfOurs();
        }

        Handle.Dispose();
    }

    private static SafeFd CreateSocket(bool nonBlocking)
    {
        int type = Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC | (nonBlocking ? Libc.SOCK_NONBLOCK : 0);
        return ThrowHelper.CheckFd(Libc.Socket(Libc.AF_UNIX, type, 0), "socket");
    }

    /// <summary>
    /// connect(2); returns 0 or the errno. EINTR is retried: an interrupted AF_UNIX connect has not
    /// connected (it only waits while the listener's backlog is full).
    /// </summary>
    private static unsafe int ConnectCore(SafeFd fd, string path)
    {
        byte* address = stackalloc byte[SockAddrUn.Size];
        uint length = SockAddrUn.Write(path, new Span<byte>(address, SockAddrUn.Size));
        while (Libc.Connect(fd, address, length) != 0)
        {
            int errno = ThrowHelper.LastErrno;
            if (errno != Errno.EINTR)
            {
                return errno;
            }
        }

        return 0;
    }
}

/// <summary>Directions for <see cref="UnixSocket.Shutdown"/>.</summary>
public enum ShutdownMode
{
    /// <summary>SHUT_RD.</summary>
    Receive,

    /// <summary>SHUT_WR: the peer reads end-of-file.</summary>
    Send,

    /// <summary>SHUT_RDWR.</summary>
    Both,
}
