using PciKit.VfioUser.Protocol;
using static PciKit.VfioUser.Tests.Bytes;

namespace PciKit.VfioUser.Tests;

public class DmaMapTests
{
    private const string Valid = "20000000 03000000 0010000000000000 00000c0000000000 0000020000000000";

    [Fact]
    public void Parses()
    {
        Assert.True(DmaMapRequest.TryParse(Hex(Valid), out var m, out var e), e.Message);
        Assert.Equal(new DmaMapRequest(32, 3, 0x1000, 0xc0000, 0x20000), m);
        Assert.True(m.Readable && m.Writeable);
        var b = new byte[32];
        Assert.Equal(32, m.Write(b));
        Assert.Equal(Hex(Valid), b);
    }

    [Theory]
    [InlineData("20000000 03000000 0010000000000000 00000c0000000000 00000200000000")]   // 31 bytes
    [InlineData("1f000000 03000000 0010000000000000 00000c0000000000 0000020000000000")] // argsz 31
    [InlineData("20000000 04000000 0010000000000000 00000c0000000000 0000020000000000")] // flag 4
    [InlineData("20000000 01000000 0000000000000000 00000c0000000000 0000000000000000")] // size 0
    [InlineData("20000000 01000000 0000000000000000 00f0ffffffffffff 0020000000000000")] // addr overflow
    [InlineData("20000000 01000000 ffffffffffffffff 0000000000000000 0200000000000000")] // offset overflow
    public void RejectsEinval(string hex)
    {
        Assert.False(DmaMapRequest.TryParse(Hex(hex), out _, out var e));
        Assert.Equal(LinuxErrno.EINVAL, e.Errno);
    }
}

public class DmaUnmapTests
{
    [Fact]
    public void ParsesAndEchoes()
    {
        byte[] b = Hex("18000000 00000000 00000c0000000000 0000020000000000");
        Assert.True(DmaUnmapRequest.TryParse(b, out var u, out _));
        Assert.Equal(new DmaUnmapRequest(24, 0, 0xc0000, 0x20000), u);
        var o = new byte[24];
        Assert.Equal(24, u.Write(o));
        Assert.Equal(b, o);
    }

    [Fact]
    public void ParsesUnmapAll()
    {
        Assert.True(DmaUnmapRequest.TryParse(Hex("18000000 02000000 0000000000000000 0000000000000000"), out var u, out _));
        Assert.True(u.UnmapAll);
    }

    [Theory]
    [InlineData("18000000 02000000 0010000000000000 0000000000000000", LinuxErrno.EINVAL)] // all + addr
    [InlineData("18000000 04000000 0010000000000000 0010000000000000", LinuxErrno.EINVAL)] // unknown flag
    [InlineData("18000000 01000000 0010000000000000 0010000000000000", LinuxErrno.ENOTSUP)] // dirty bitmap
    [InlineData("17000000 00000000 0010000000000000 0010000000000000", LinuxErrno.EINVAL)] // argsz 23
    [InlineData("18000000 00000000 0010000000000000 0000000000000000", LinuxErrno.EINVAL)] // size 0
    [InlineData("18000000 00000000 00f0ffffffffffff 0020000000000000", LinuxErrno.EINVAL)] // overflow
    [InlineData("18000000 00000000 0010000000000000 00100000000000", LinuxErrno.EINVAL)]   // 23 bytes
    public void Rejects(string hex, int errno)
    {
        Assert.False(DmaUnmapRequest.TryParse(Hex(hex), out _, out var e));
        Assert.Equal(errno, e.Errno);
    }
}

public class DmaReadWriteTests
{
    [Fact]
    public void WritesDmaReadRequestAndParsesReply()
    {
        var b = new byte[16];
        Assert.Equal(16, DmaReadMessage.WriteRequest(b, 0x1000, 4));
        Assert.Equal(Hex("0010000000000000 0400000000000000"), b);
        Assert.True(DmaReadMessage.TryParseReply(Hex("0010000000000000 0400000000000000 deadbeef"), 0x1000, 4, out var data, out _));
        Assert.Equal(Hex("deadbeef"), data.ToArray());
    }

    [Theory]
    [InlineData("0010000000000000 0500000000000000 deadbeef", LinuxErrno.EINVAL)]  // count lies
    [InlineData("0010000000000000 ffffffffffffffff deadbeef", LinuxErrno.EINVAL)]  // huge count
    [InlineData("0010000000000000 04000000000000", LinuxErrno.EINVAL)]             // truncated
    [InlineData("0020000000000000 0400000000000000 deadbeef", LinuxErrno.EFAULT)]  // wrong address
    public void RejectsBadDmaReadReply(string hex, int errno)
    {
        Assert.False(DmaReadMessage.TryParseReply(Hex(hex), 0x1000, 4, out _, out var e));
        Assert.Equal(errno, e.Errno);
    }

    [Fact]
    public void WritesDmaWriteRequest()
    {
        var b = new byte[20];
        Assert.Equal(20, DmaWriteMessage.WriteRequest(b, 0x2000, Hex("01020304")));
        Assert.Equal(Hex("0020000000000000 0400000000000000 01020304"), b);
        Assert.Throws<ArgumentException>(() => DmaWriteMessage.WriteRequest(new byte[19], 0, Hex("01020304")));
    }

    [Theory]
    [InlineData("0020000000000000 0400000000000000")]
    [InlineData("0020000000000000 04000000")]
    public void AcceptsDmaWriteReplyOf12Or16(string hex)
    {
        Assert.True(DmaWriteMessage.TryParseReply(Hex(hex), out ulong a, out ulong c, out _));
        Assert.Equal(0x2000ul, a);
        Assert.Equal(4ul, c);
    }

    [Fact]
    public void RejectsShortDmaWriteReply()
    {
        Assert.False(DmaWriteMessage.TryParseReply(Hex("0020000000000000 040000"), out _, out _, out var e));
        Assert.Equal(LinuxErrno.EINVAL, e.Errno);
    }
}
