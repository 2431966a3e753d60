using PciKit.VfioUser.Protocol;
using static PciKit.VfioUser.Tests.Bytes;

namespace PciKit.VfioUser.Tests;

public class DeviceResetTests
{
    [Fact]
    public void EmptyPayloadParses() => Assert.True(DeviceResetRequest.TryParse([], out _));

    [Fact]
    public void PayloadIsEinval()
    {
        Assert.False(DeviceResetRequest.TryParse(Hex("00"), out var e));
        Assert.Equal(LinuxErrno.EINVAL, e.Errno);
    }
}

public class DeviceFeatureTests
{
    [Fact]
    public void ParsesProbe()
    {
        Assert.True(DeviceFeatureRequest.TryParse(Hex("0c000000 03000500 aabbccdd"), out var f, out var e), e.Message);
        Assert.Equal(3, f.Feature);
        Assert.Equal(DeviceFeatureRequest.FlagGet | DeviceFeatureRequest.FlagProbe, f.Flags & ~DeviceFeatureRequest.FeatureMask);
        Assert.Equal(Hex("aabbccdd"), f.Data.ToArray());
    }

    [Theory]
    [InlineData("08000000 03000000")]          // no operation
    [InlineData("08000000 03000300")]          // GET|SET without PROBE
    [InlineData("08000000 03000800")]          // unknown bit 19
    [InlineData("07000000 03000100")]          // argsz < 8
    [InlineData("08000000 030001")]            // truncated
    public void Rejects(string hex)
    {
        Assert.False(DeviceFeatureRequest.TryParse(Hex(hex), out _, out var e));
        Assert.Equal(LinuxErrno.EINVAL, e.Errno);
    }
}
