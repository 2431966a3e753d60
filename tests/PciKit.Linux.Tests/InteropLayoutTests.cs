using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PciKit.Linux.Interop;

namespace PciKit.Linux.Tests;

/// <summary>Pins the host C layouts (LP64 Linux: x86-64 and arm64).</summary>
public sealed class InteropLayoutTests
{
    [Fact]
    public void MsgHdrMatchesLp64Layout()
    {
        Assert.Equal(56, Unsafe.SizeOf<MsgHdr>());
        Assert.Equal(0, (int)Marshal.OffsetOf<MsgHdr>(nameof(MsgHdr.Name)));
        Assert.Equal(8, (int)Marshal.OffsetOf<MsgHdr>(nameof(MsgHdr.NameLength)));
        Assert.Equal(16, (int)Marshal.OffsetOf<MsgHdr>(nameof(MsgHdr.Iov)));
        Assert.Equal(24, (int)Marshal.OffsetOf<MsgHdr>(nameof(MsgHdr.IovLength)));
        Assert.Equal(32, (int)Marshal.OffsetOf<MsgHdr>(nameof(MsgHdr.Control)));
        Assert.Equal(40, (int)Marshal.OffsetOf<MsgHdr>(nameof(MsgHdr.ControlLength)));
        Assert.Equal(48, (int)Marshal.OffsetOf<MsgHdr>(nameof(MsgHdr.Flags)));
    }

    [Fact]
    public void IoVecCmsgHdrUCredPollFdMatchLayout()
    {
        Assert.Equal(16, Unsafe.SizeOf<IoVec>());
        Assert.Equal(8, (int)Marshal.OffsetOf<IoVec>(nameof(IoVec.Length)));
        Assert.Equal(16, Unsafe.SizeOf<CmsgHdr>());
        Assert.Equal(8, (int)Marshal.OffsetOf<CmsgHdr>(nameof(CmsgHdr.Level)));
        Assert.Equal(12, (int)Marshal.OffsetOf<CmsgHdr>(nameof(CmsgHdr.Type)));
        Assert.Equal(Cmsg.DataOffset, Unsafe.SizeOf<CmsgHdr>());
        Assert.Equal(12, Unsafe.SizeOf<UCred>());
        Assert.Equal(8, Unsafe.SizeOf<PollEntry>());                          // struct pollfd
        Assert.Equal(6, (int)Marshal.OffsetOf<PollEntry>("_returned"));      // revents
    }

    [Fact]
    public void CmsgMacrosMatchGlibc()
    {
        Assert.Equal(20, Cmsg.Len(4));     // CMSG_LEN(sizeof(int))
        Assert.Equal(24, Cmsg.Space(4));   // CMSG_SPACE(sizeof(int))
        Assert.Equal(28, Cmsg.Len(12));
        Assert.Equal(32, Cmsg.Space(12));
        Assert.True(Cmsg.ReceiveBufferSize >= Cmsg.Space(Cmsg.MaxFds * sizeof(int)));
    }

    [Fact]
    public void EpollEventLayoutFollowsArchitecture()
    {
        bool x64 = RuntimeInformation.ProcessArchitecture == Architecture.X64;
        Assert.Equal(x64 ? 12 : 16, Libc.EpollEventSize);
        Assert.Equal(x64 ? 4 : 8, Libc.EpollEventDataOffset);
    }

    [Fact]
    public void SockAddrUnEncodesFamilyAndTerminatedPath()
    {
        Span<byte> address = stackalloc byte[SockAddrUn.Size];
        uint length = SockAddrUn.Write("/a/b", address);
        Assert.Equal(2u + 4 + 1, length);
        Assert.Equal(1, BitConverter.ToUInt16(address));
        Assert.Equal("/a/b"u8.ToArray(), address.Slice(2, 4).ToArray());
        Assert.Equal(0, address[6]);
        Assert.Throws<ArgumentException>(() => SockAddrUn.Write(new string('x', 108), new byte[SockAddrUn.Size]));
        Assert.Throws<ArgumentException>(() => SockAddrUn.Write("a\0b", new byte[SockAddrUn.Size]));
    }

    [Fact]
    public void StatxReportsSizeAndType()
    {
        using SafeFd fd = SharedMemory.CreateMemFd("layout", 12345);
        FileStatus status = Libc.FStat(fd);
        Assert.Equal(12345ul, status.Size);
        Assert.True(status.IsRegularFile);
        Assert.False(status.IsSocket);
        Assert.NotEqual(0ul, status.Inode);
    }
}
