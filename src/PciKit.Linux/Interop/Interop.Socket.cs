using System.Runtime.InteropServices;

namespace PciKit.Linux.Interop;

internal static partial class Libc
{
    internal const int AF_UNIX = 1;
    internal const int SOCK_STREAM = 1;
    internal const int SOCK_NONBLOCK = 0x800;
    internal const int SOCK_CLOEXEC = 0x80000;
    internal const int SOL_SOCKET = 1;
    internal const int SO_PEERCRED = 17;
    internal const int SO_SNDBUF = 7;
    internal const int SO_RCVBUF = 8;
    internal const int SHUT_RD = 0;
    internal const int SHUT_WR = 1;
    internal const int SHUT_RDWR = 2;

    /// <summary>socket(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    /// <summary>socketpair(2); <paramref name="fds"/> receives two raw descriptors that the caller wraps at once.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "socketpair", SetLastError = true)]
    internal static unsafe partial int SocketPair(int domain, int type, int protocol, int* fds);

    /// <summary>bind(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "bind", SetLastError = true)]
    internal static unsafe partial int Bind(SafeFd fd, byte* address, uint addressLength);

    /// <summary>connect(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "connect", SetLastError = true)]
    internal static unsafe partial int Connect(SafeFd fd, byte* address, uint addressLength);

    /// <summary>listen(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "listen", SetLastError = true)]
    internal static partial int Listen(SafeFd fd, int backlog);

    /// <summary>accept4(2) without the peer address.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "accept4", SetLastError = true)]
    internal static partial int Accept4(SafeFd fd, nint address, nint addressLength, int flags);

    /// <summary>shutdown(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "shutdown", SetLastError = true)]
    internal static partial int Shutdown(SafeFd fd, int how);

    /// <summary>getsockopt(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "setsockopt", SetLastError = true)]
    internal static unsafe partial int SetSockOpt(SafeFd fd, int level, int name, void* value, uint valueLength);

    [LibraryImport(Libraries.Libc, EntryPoint = "getsockopt", SetLastError = true)]
    internal static unsafe partial int GetSockOpt(SafeFd fd, int level, int name, void* value, uint* valueLength);
}
