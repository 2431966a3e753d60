using PciKit.VfioUser.Protocol;
using static PciKit.VfioUser.Tests.Bytes;

namespace PciKit.VfioUser.Tests;

public class HeaderTests
{
    [Fact]
    public void ParsesCommandHeader()
    {
        byte[] b = Hex("2a00 0900 20000000 10000000 00000000");
        Assert.True(VfioUserHeader.TryRead(b, 4096, out var h, out var e), e.Message);
        Assert.Equal(42, h.MessageId);
        Assert.Equal(VfioUserCommand.RegionRead, h.Command);
        Assert.Equal(32u, h.MessageSize);
        Assert.Equal(16, h.PayloadSize);
        Assert.True(h.NoReply);
        Assert.False(h.IsReply);
    }

    [Theory]
    [InlineData("0100 0100 0f000000 00000000 00000000", LinuxErrno.EINVAL)] // msg_size 15
    [InlineData("0100 0100 01100000 00000000 00000000", LinuxErrno.E2BIG)]  // 4097 > max
    [InlineData("0100 0100 10000000 02000000 00000000", LinuxErrno.EINVAL)] // type 2
    [InlineData("0100 0100 10000000 00000000 000000", LinuxErrno.EINVAL)]   // 15 bytes
    public void RejectsBadHeaders(string hex, int errno)
    {
        Assert.False(VfioUserHeader.TryRead(Hex(hex), 4096, out _, out var e));
        Assert.Equal(errno, e.Errno);
    }

    [Fact]
    public void AcceptsSizeAtMaximum()
        => Assert.True(VfioUserHeader.TryRead(Hex("0100 0100 00100000 01000000 00000000"), 4096, out _, out _));

    [Fact]
    public void WritesErrorReply()
    {
        var req = new VfioUserHeader(7, VfioUserCommand.RegionRead, 32, 0, 0);
        var b = new byte[16];
        Assert.Equal(16, VfioUserHeader.ForError(req, LinuxErrno.EINVAL).Write(b));
        Assert.Equal(Hex("0700 0900 10000000 21000000 16000000"), b);
    }

    [Fact]
    public void WritesReplyAndCommand()
    {
        var b = new byte[16];
        VfioUserHeader.ForReply(new VfioUserHeader(3, VfioUserCommand.Version, 20, 0, 0), 4).Write(b);
        Assert.Equal(Hex("0300 0100 14000000 01000000 00000000"), b);
        VfioUserHeader.ForCommand(9, VfioUserCommand.DmaWrite, 20, noReply: true).Write(b);
        Assert.Equal(Hex("0900 0c00 24000000 10000000 00000000"), b);
    }

    [Fact]
    public void WriteIntoShortBufferThrows()
        => Assert.Throws<ArgumentException>(() => new VfioUserHeader(1, VfioUserCommand.Version, 16, 0, 0).Write(new byte[15]));

    [Fact]
    public void CommandNumbers()
    {
        Assert.Equal(1, (int)VfioUserCommand.Version);
        Assert.Equal(13, (int)VfioUserCommand.DeviceReset);
        Assert.Equal(15, (int)VfioUserCommand.RegionWriteMulti);
        Assert.Equal(18, (int)VfioUserCommand.MigDataWrite);
    }
}
