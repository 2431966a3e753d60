using PciKit.Linux;

namespace PciKit.QemuProxy.Tests;

/// <summary>DEVICE_RESET: a conventional reset of the device, answered with RET.</summary>
public sealed class DeviceResetCommandTests
{
    private const uint Bar0 = 0xfe00_0000;

    [Fact]
    public void ResetRestoresPowerOnStateAndIsAnswered()
    {
        using var qemu = FakeQemu.WithEdu();
        qemu.ProgramBar0(Bar0);
        qemu.BarWrite(Bar0 + 4, 0x55, 4);
        Assert.Equal(0ul, qemu.Reset());
        Assert.Equal(1, qemu.Device.Counters.ResetCount);
        Assert.Equal(0u, qemu.ConfigRead(0x10, 4));
        Assert.Equal(0u, qemu.ConfigRead(0x04, 2));
        Assert.Equal(0xFFFF_FFFFul, qemu.BarRead(Bar0, 4)); // no BAR decodes any more
        qemu.ProgramBar0(Bar0);
        Assert.Equal(0ul, qemu.BarRead(Bar0 + 4, 4)); // the liveness register is back to its power-on 0
    }

    [Fact]
    public void ResetLowersTheLine()
    {
        using var qemu = FakeQemu.WithEdu();
        using var irq = new EventFd(0, EventFdOptions.NonBlocking);
        using var resample = new EventFd(0, EventFdOptions.NonBlocking);
        qemu.SetIrqfd(irq, resample);
        qemu.ProgramBar0(Bar0);
        qemu.BarWrite(Bar0 + 0x60, 1, 4);
        Eventually.Fired(irq);
        qemu.Reset();
        resample.Signal();
        Assert.True(Eventually.Quiet(irq));
    }
}
