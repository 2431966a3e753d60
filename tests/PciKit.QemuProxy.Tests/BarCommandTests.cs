using PciKit.Config;
using PciKit.Devices.Edu;

namespace PciKit.QemuProxy.Tests;

/// <summary>BAR_READ / BAR_WRITE: absolute guest-physical addresses decoded against the BARs as programmed.</summary>
public sealed class BarCommandTests
{
    private const uint Bar0 = 0xfe00_0000;

    [Fact]
    public void ReadsEduIdentificationAtBar0()
    {
        using var qemu = FakeQemu.WithEdu();
        qemu.ProgramBar0(Bar0);
        Assert.Equal(0x010000EDul, qemu.BarRead(Bar0, 4));
        Assert.Equal(0, qemu.Proxy.Counters.UnclaimedBarAccessCount);
    }

    [Fact]
    public void WritesReachTheDevice()
    {
        using var qemu = FakeQemu.WithEdu();
        qemu.ProgramBar0(Bar0);
        Assert.Equal(0ul, qemu.BarWrite(Bar0 + 4, 0x1234_5678, 4));
        Assert.Equal(0xEDCB_A987ul, qemu.BarRead(Bar0 + 4, 4)); // liveness: the inverse
        Assert.Equal(0ul, qemu.BarWrite(Bar0 + 0x80, 0x0123_4567_89AB_CDEF, 8)); // 8-byte register
        Assert.Equal(0x0123_4567_89AB_CDEFul, qemu.BarRead(Bar0 + 0x80, 8));
    }

    [Fact]
    public void UnclaimedAddressesReadAllOnesAndWritesAreDropped()
    {
        using var qemu = FakeQemu.WithEdu();
        qemu.ProgramBar0(Bar0);
        Assert.Equal(0xFFFF_FFFFul, qemu.BarRead(0xfd00_0000, 4));
        Assert.Equal(0xFFul, qemu.BarRead(Bar0 + EduDevice.MmioSize, 1)); // just past the BAR
        Assert.Equal(ulong.MaxValue, qemu.BarRead(0x1000, 8));
        Assert.Equal(0xFFFFul, qemu.BarRead(Bar0, 2, memory: false)); // same number in I/O space
        Assert.Equal(0ul, qemu.BarWrite(0xfd00_0004, 1, 4));
        Assert.Equal(5, qemu.Proxy.Counters.UnclaimedBarAccessCount);
        Assert.True(qemu.Log.Contains("claimed by no decoding BAR"));
        Assert.Equal(0x010000EDul, qemu.BarRead(Bar0, 4));
    }

    [Fact]
    public void NothingDecodesBeforeMemorySpaceIsEnabled()
    {
        using var qemu = FakeQemu.WithEdu();
        qemu.ConfigWrite(0x10, Bar0, 4);
        Assert.Equal(0xFFFF_FFFFul, qemu.BarRead(Bar0, 4));
        qemu.ConfigWrite(0x04, 0x2, 2);
        Assert.Equal(0x010000EDul, qemu.BarRead(Bar0, 4));
        qemu.ConfigWrite(0x04, 0x0, 2); // the guest turns decoding off again
        Assert.Equal(0xFFFF_FFFFul, qemu.BarRead(Bar0, 4));
        Assert.Equal(2, qemu.Proxy.Counters.UnclaimedBarAccessCount);
    }

    [Fact]
    public void FollowsTheBarWhenTheGuestMovesIt()
    {
        using var qemu = FakeQemu.WithEdu();
        qemu.ProgramBar0(Bar0);
        qemu.ConfigWrite(0x10, 0xc000_0000, 4);
        Assert.Equal(0x010000EDul, qemu.BarRead(0xc000_0000, 4));
        Assert.Equal(0xFFFF_FFFFul, qemu.BarRead(Bar0, 4));
    }

    [Fact]
    public void InvalidSizesInsideTheBarReadAllOnes()
    {
        using var qemu = FakeQemu.WithEdu();
        qemu.ProgramBar0(Bar0);
        Assert.Equal(0xFFul, qemu.BarRead(Bar0, 1)); // edu registers below 0x80 take 4 bytes only
        Assert.Equal(ulong.MaxValue, qemu.BarRead(Bar0, 16));
        Assert.Equal(0ul, qemu.BarWrite(Bar0 + 4, 0, 3));
        Assert.Equal(3, qemu.Device.Counters.InvalidBarAccessCount);
        Assert.Equal(0, qemu.Proxy.Counters.UnclaimedBarAccessCount);
    }

    [Fact]
    public void IoBarByPortNumber()
    {
        using var qemu = new FakeQemu(new BarsDevice((0, PciBar.Memory32(4096)), (1, PciBar.Io(16))));
        qemu.ConfigWrite(0x14, 0xc040, 4);
        qemu.ConfigWrite(0x04, 0x1, 2); // I/O Space only
        Assert.Equal(0ul, qemu.BarWrite(0xc040, 0xA5A5_5A5A, 4, memory: false));
        Assert.Equal(0xA5A5_5A5Aul, qemu.BarRead(0xc040, 4, memory: false));
        Assert.Equal(0x5Aul, qemu.BarRead(0xc040, 1, memory: false));
        Assert.Equal(0xFFFF_FFFFul, qemu.BarRead(0xc040, 4, memory: true)); // memory space: not ours
        Assert.Equal(1, qemu.Proxy.Counters.UnclaimedBarAccessCount);
    }
}
