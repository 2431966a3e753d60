using PciKit.VfioUser.Protocol;
using static PciKit.VfioUser.Tests.Bytes;

namespace PciKit.VfioUser.Tests;

public class SetIrqsTests
{
    [Fact]
    public void ParsesEventfdTrigger()
    {
        Assert.True(SetIrqsRequest.TryParse(Hex("14000000 24000000 02000000 00000000 04000000"), out var r, out var e), e.Message);
        Assert.Equal(SetIrqsRequest.DataEventFd, r.DataType);
        Assert.Equal(SetIrqsRequest.ActionTrigger, r.Action);
        Assert.Equal(2u, r.Index);
        Assert.Equal(4u, r.Count);
        Assert.True(r.BoolData.IsEmpty);
    }

    [Fact]
    public void ParsesBoolArray()
    {
        Assert.True(SetIrqsRequest.TryParse(Hex("17000000 22000000 01000000 01000000 03000000 010001"), out var r, out _));
        Assert.Equal(Hex("010001"), r.BoolData.ToArray());
    }

    [Fact]
    public void ParsesDisable()
        => Assert.True(SetIrqsRequest.TryParse(Hex("14000000 21000000 01000000 00000000 00000000"), out _, out _));

    [Theory]
    [InlineData("14000000 23000000 01000000 00000000 00000000")]        // two data types
    [InlineData("14000000 19000000 01000000 00000000 00000000")]        // two actions
    [InlineData("14000000 20000000 01000000 00000000 00000000")]        // no data type
    [InlineData("14000000 01000000 01000000 00000000 00000000")]        // no action
    [InlineData("14000000 61000000 01000000 00000000 00000000")]        // unknown bit
    [InlineData("16000000 22000000 01000000 00000000 03000000 0100")]   // bool short
    [InlineData("18000000 22000000 01000000 00000000 03000000 01000100")] // bool long
    [InlineData("14000000 22000000 01000000 00000000 ffffffff")]        // huge count, no data
    [InlineData("15000000 24000000 01000000 00000000 01000000 01")]     // data without BOOL
    [InlineData("14000000 24000000 01000000 ffffffff 02000000")]        // start+count overflow
    [InlineData("13000000 24000000 01000000 00000000 01000000")]        // argsz < 20
    [InlineData("14000000 24000000 01000000 00000000 010000")]          // truncated
    public void RejectsEinval(string hex)
    {
        Assert.False(SetIrqsRequest.TryParse(Hex(hex), out _, out var e));
        Assert.Equal(LinuxErrno.EINVAL, e.Errno);
    }

    [Fact]
    public void Writes()
    {
        var b = new byte[22];
        Assert.Equal(22, SetIrqsRequest.Write(b, SetIrqsRequest.DataBool | SetIrqsRequest.ActionMask, 1, 0, 2, Hex("0100")));
        Assert.Equal(Hex("16000000 0a000000 01000000 00000000 02000000 0100"), b);
    }
}
