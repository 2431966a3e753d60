using PciKit.VfioUser.Protocol;
using static PciKit.VfioUser.Tests.Bytes;

namespace PciKit.VfioUser.Tests;

public class DeviceGetInfoTests
{
    [Fact]
    public void ParsesRequestAndWritesReply()
    {
        Assert.True(DeviceInfo.TryParse(Hex("10000000 00000000 00000000 00000000"), out var r, out _));
        Assert.Equal(16u, r.ArgSz);
        var b = new byte[16];
        Assert.Equal(16, new DeviceInfo(16, VfioDeviceInfoFlags.Reset | VfioDeviceInfoFlags.Pci, VfioPciRegion.Count, VfioPciIrq.Count).Write(b));
        Assert.Equal(Hex("10000000 03000000 09000000 05000000"), b);
    }

    [Theory]
    [InlineData("0f000000 00000000 00000000 00000000")]
    [InlineData("10000000 00000000 00000000 000000")]
    [InlineData("")]
    public void Rejects(string hex)
    {
        Assert.False(DeviceInfo.TryParse(Hex(hex), out _, out var e));
        Assert.Equal(LinuxErrno.EINVAL, e.Errno);
    }
}

public class DeviceGetIrqInfoTests
{
    [Fact]
    public void ParsesRequestAndWritesReply()
    {
        Assert.True(IrqInfo.TryParse(Hex("10000000 00000000 02000000 00000000"), out var r, out _));
        Assert.Equal(VfioPciIrq.MsiX, r.Index);
        var b = new byte[16];
        new IrqInfo(16, VfioIrqInfoFlags.EventFd | VfioIrqInfoFlags.NoResize, VfioPciIrq.MsiX, 64).Write(b);
        Assert.Equal(Hex("10000000 09000000 02000000 40000000"), b);
    }

    [Theory]
    [InlineData("0c000000 00000000 02000000 00000000")]
    [InlineData("10000000 00000000 02000000")]
    public void Rejects(string hex)
    {
        Assert.False(IrqInfo.TryParse(Hex(hex), out _, out var e));
        Assert.Equal(LinuxErrno.EINVAL, e.Errno);
    }
}

public class DeviceGetRegionInfoTests
{
    [Fact]
    public void ParsesRequest()
    {
        Assert.True(RegionInfo.TryParse(Hex("20000000 00000000 07000000 00000000 0000000000000000 0000000000000000"), out var r, out _));
        Assert.Equal(VfioPciRegion.Config, r.Index);
        Assert.Equal(32u, r.ArgSz);
    }

    [Theory]
    [InlineData("1f000000 00000000 07000000 00000000 0000000000000000 0000000000000000")]
    [InlineData("20000000 00000000 07000000 00000000 0000000000000000 00000000000000")]
    public void Rejects(string hex)
    {
        Assert.False(RegionInfo.TryParse(Hex(hex), out _, out var e));
        Assert.Equal(LinuxErrno.EINVAL, e.Errno);
    }

    [Fact]
    public void WritesPlainReply()
    {
        var b = new byte[64];
        int n = RegionInfo.WriteReply(b, 32, VfioPciRegion.Config, VfioRegionInfoFlags.Read | VfioRegionInfoFlags.Write, 256, 0, []);
        Assert.Equal(32, n);
        Assert.Equal(Hex("20000000 03000000 07000000 00000000 0001000000000000 0000000000000000"), b[..n]);
    }

    [Fact]
    public void WritesSparseMmapChain()
    {
        var b = new byte[128];
        SparseMmapArea[] areas = [new(0, 0x1000), new(0x3000, 0x1000)];
        int n = RegionInfo.WriteReply(b, 256, 0, VfioRegionInfoFlags.Read | VfioRegionInfoFlags.Write | VfioRegionInfoFlags.Mmap, 0x4000, 0, areas);
        Assert.Equal(80, n);
        Assert.Equal(Hex(
            "50000000 0f000000 00000000 20000000 0040000000000000 0000000000000000" +
            "0100 0100 00000000 02000000 00000000" +
            "0000000000000000 0010000000000000 0030000000000000 0010000000000000"), b[..n]);
    }

    [Fact]
    public void ArgszTooSmallReportsNeededSize()
    {
        var b = new byte[128];
        int n = RegionInfo.WriteReply(b, 32, 0, VfioRegionInfoFlags.Read | VfioRegionInfoFlags.Mmap, 0x4000, 0, [new(0, 0x1000)]);
        Assert.Equal(32, n);
        Assert.Equal(Hex("40000000 0d000000 00000000 00000000 0040000000000000 0000000000000000"), b[..n]);
    }
}
