using PciKit.VfioUser.Protocol;
using static PciKit.VfioUser.Tests.Bytes;

namespace PciKit.VfioUser.Tests;

public class RegionReadTests
{
    [Fact]
    public void ParsesRequestAndWritesReply()
    {
        Assert.True(RegionAccess.TryParseRead(Hex("1000000000000000 07000000 04000000"), out var r, out _));
        Assert.Equal(new RegionAccess(0x10, 7, 4), r);
        var b = new byte[20];
        Assert.Equal(20, RegionAccess.WriteWithData(b, 0x10, 7, Hex("86800010")));
        Assert.Equal(Hex("1000000000000000 07000000 04000000 86800010"), b);
    }

    [Theory]
    [InlineData("1000000000000000 07000000 040000")]
    [InlineData("1000000000000000 07000000 04000000 00")]
    [InlineData("ffffffffffffffff 07000000 04000000")]
    public void Rejects(string hex)
    {
        Assert.False(RegionAccess.TryParseRead(Hex(hex), out _, out var e));
        Assert.Equal(LinuxErrno.EINVAL, e.Errno);
    }
}

public class RegionWriteTests
{
    [Fact]
    public void ParsesRequestAndWritesReply()
    {
        Assert.True(RegionAccess.TryParseWrite(Hex("0400000000000000 00000000 02000000 0700"), out var r, out var data, out _));
        Assert.Equal(new RegionAccess(4, 0, 2), r);
        Assert.Equal(Hex("0700"), data.ToArray());
        var b = new byte[16];
        Assert.Equal(16, r.Write(b));
        Assert.Equal(Hex("0400000000000000 00000000 02000000"), b);
    }

    [Theory]
    [InlineData("0400000000000000 00000000 03000000 0700")]     // count lies high
    [InlineData("0400000000000000 00000000 01000000 0700")]     // count lies low
    [InlineData("0400000000000000 00000000 ffffffff 0700")]     // huge count
    [InlineData("0400000000000000 00000000 020000")]            // truncated
    [InlineData("ffffffffffffffff 00000000 02000000 0700")]     // overflow
    public void Rejects(string hex)
    {
        Assert.False(RegionAccess.TryParseWrite(Hex(hex), out _, out _, out var e));
        Assert.Equal(LinuxErrno.EINVAL, e.Errno);
    }
}

public class RegionWriteMultiTests
{
    private const string Two =
        "0200000000000000" +
        "0010000000000000 00000000 04000000 efbeadde00000000" +
        "0810000000000000 02000000 08000000 0102030405060708";

    [Fact]
    public void Parses()
    {
        Assert.True(RegionWriteMultiRequest.TryParse(Hex(Two), out var m, out var e), e.Message);
        Assert.Equal(2, m.Count);
        Assert.Equal(0x1000ul, m[0].Offset);
        Assert.Equal(0u, m[0].Region);
        Assert.Equal(Hex("efbeadde"), m[0].Data.ToArray());
        Assert.Equal(2u, m[1].Region);
        Assert.Equal(Hex("0102030405060708"), m[1].Data.ToArray());
        var b = new byte[8];
        Assert.Equal(8, RegionWriteMultiRequest.WriteReply(b, 2));
        Assert.Equal(Hex("0200000000000000"), b);
    }

    [Theory]
    [InlineData("0000000000000000")]                                                        // n = 0
    [InlineData("0200000000000000 0010000000000000 00000000 04000000 efbeadde00000000")]    // n lies
    [InlineData("ffffffffffffffff 0010000000000000 00000000 04000000 efbeadde00000000")]    // n overflows
    [InlineData("0000000000000020 0010000000000000 00000000 04000000 efbeadde00000000")]    // n * 24 wraps
    [InlineData("0100000000000000 0010000000000000 00000000 09000000 efbeadde00000000")]    // count 9
    [InlineData("0100000000000000 ffffffffffffffff 00000000 04000000 efbeadde00000000")]    // offset overflow
    [InlineData("0100000000000000 0010000000000000 00000000 04000000 efbeadde000000")]      // truncated
    [InlineData("01000000000000")]                                                          // short n
    public void Rejects(string hex)
    {
        Assert.False(RegionWriteMultiRequest.TryParse(Hex(hex), out _, out var e));
        Assert.Equal(LinuxErrno.EINVAL, e.Errno);
    }
}
