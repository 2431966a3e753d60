using System.Runtime.InteropServices;

namespace PciKit.Linux.Interop;

// Host C layouts for LP64 Linux (x86-64 and arm64 share them). Pinned by InteropLayoutTests.
// musl declares msg_iovlen/msg_controllen/cmsg_len as 32-bit with explicit padding; on little-endian
// hosts writing the zero-extended 64-bit value produces the same bytes, so these layouts serve both.

/// <summary><c>struct iovec</c> (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct IoVec
{
    internal void* Base;
    internal nuint Length;
}

/// <summary><c>struct msghdr</c> (56 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct MsgHdr
{
    internal void* Name;
    internal uint NameLength;
    internal IoVec* Iov;
    internal nuint IovLength;
    internal void* Control;
    internal nuint ControlLength;
    internal int Flags;
}

/// <summary><c>struct cmsghdr</c> (16 bytes); the data follows at <see cref="Cmsg.DataOffset"/>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CmsgHdr
{
    internal nuint Length;
    internal int Level;
    internal int Type;
}

/// <summary><c>struct ucred</c> (12 bytes), returned by SO_PEERCRED.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct UCred
{
    internal int Pid;
    internal uint Uid;
    internal uint Gid;
}

/// <summary>The CMSG_* macros.</summary>
internal static unsafe class Cmsg
{
    internal const int SCM_RIGHTS = 1;

    /// <summary>Largest number of descriptors the kernel accepts in one SCM_RIGHTS message (SCM_MAX_FD).</summary>
    internal const int MaxFds = 253;

    /// <summary>CMSG_ALIGN(sizeof(struct cmsghdr)).</summary>
    internal const int DataOffset = 16;

    /// <summary>Control buffer for a receive: room for SCM_MAX_FD descriptors plus one more small message.</summary>
    internal const int ReceiveBufferSize = 1088;

    internal static int Align(int length) => (length + 7) & ~7;

    /// <summary>CMSG_LEN(n).</summary>
    internal static int Len(int dataLength) => DataOffset + dataLength;

    /// <summary>CMSG_SPACE(n).</summary>
    internal static int Space(int dataLength) => DataOffset + Align(dataLength);
}

internal static partial class Libc
{
    internal const int MSG_CTRUNC = 0x8;
    internal const int MSG_TRUNC = 0x20;
    internal const int MSG_DONTWAIT = 0x40;
    internal const int MSG_NOSIGNAL = 0x4000;
    internal const int MSG_CMSG_CLOEXEC = 0x40000000;

    /// <summary>sendmsg(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "sendmsg", SetLastError = true)]
    internal static unsafe partial nint SendMsg(SafeFd fd, MsgHdr* message, int flags);

    /// <summary>recvmsg(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "recvmsg", SetLastError = true)]
    internal static unsafe partial nint RecvMsg(SafeFd fd, MsgHdr* message, int flags);
}
