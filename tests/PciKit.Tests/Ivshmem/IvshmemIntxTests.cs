using PciKit.Config;
using PciKit.Device;
using PciKit.Devices.Ivshmem;
using PciKit.Driver;
using PciKit.Host;
using R = PciKit.Devices.Ivshmem.IvshmemDevice.Registers;

namespace PciKit.Tests.Ivshmem;

/// <summary>The INTx variant (specification revision 0): IntrStatus and IntrMask drive the INTx line.</summary>
public sealed class IvshmemIntxTests : IDisposable
{
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(30);
    private readonly PciHostBus _bus = new();
    private readonly IvshmemDevice _device;
    private readonly PciFunction _function;

    public IvshmemIntxTests()
    {
        _device = new IvshmemLoopback().JoinDevice(new IvshmemOptions { Variant = IvshmemVariant.Intx, SharedMemorySize = 4096 });
        _function = _bus.GetFunction(_bus.Attach(_device));
        _function.Open();
        _function.SetDecoding(true);
    }

    public void Dispose()
    {
        _function.Dispose();
        _bus.Dispose();
    }

    private bool StatusShowsInterrupt => (_function.ConfigRead16(PciHeader.Status) & (int)PciStatus.InterruptStatus) != 0;

    [Fact]
    public void A_peer_interrupt_sets_IntrStatus_and_asserts_INTx_when_the_mask_allows_it()
    {
        var intx = _function.ConfigureInterrupts(PciInterruptKind.Intx);
        _function.MemoryWrite32(0, R.IntrMask, 1);

        _function.MemoryWrite32(0, R.Doorbell, 0); // ring itself (peer 0, vector 0)

        Assert.Equal(1, intx[0].Wait(HangGuard));
        Assert.True(StatusShowsInterrupt);
        Assert.Equal(1u, _function.MemoryRead32(0, R.IntrStatus)); // reading clears it, and INTx falls
        Assert.False(StatusShowsInterrupt);
        Assert.False(_device.Interrupts.IntxLevel);
    }

    [Fact]
    public void INTx_follows_status_AND_mask()
    {
        _function.ConfigureInterrupts(PciInterruptKind.Intx);

        _device.Notify(0);                         // status 1, mask 0
        Assert.False(_device.Interrupts.IntxLevel);
        _function.MemoryWrite32(0, R.IntrMask, 2); // no common bit
        Assert.False(_device.Interrupts.IntxLevel);
        _function.MemoryWrite32(0, R.IntrMask, 1);
        Assert.True(_device.Interrupts.IntxLevel);
        Assert.True(StatusShowsInterrupt);
        _function.MemoryWrite32(0, R.IntrMask, 0);
        Assert.False(_device.Interrupts.IntxLevel);

        _function.MemoryWrite32(0, R.IntrMask, 0x10);
        _function.MemoryWrite32(0, R.IntrStatus, 0x30); // software can set status bits too
        Assert.True(_device.Interrupts.IntxLevel);
        _function.MemoryWrite32(0, R.IntrStatus, 0x20);
        Assert.False(_device.Interrupts.IntxLevel);
    }

    [Fact]
    public void Reset_lowers_INTx()
    {
        _function.MemoryWrite32(0, R.IntrMask, 1);
        _device.Notify(0);
        Assert.True(_device.Interrupts.IntxLevel);

        _function.Reset(PciResetKind.Conventional);

        Assert.False(_device.Interrupts.IntxLevel);
        Assert.False(StatusShowsInterrupt);
    }

    [Fact]
    public void The_plain_and_doorbell_variants_never_touch_INTx()
    {
        var doorbell = new IvshmemLoopback().JoinDevice();
        var function = _bus.GetFunction(_bus.Attach(doorbell));
        function.Open();
        function.SetDecoding(true);
        function.MemoryWrite32(0, R.IntrMask, 1);
        function.MemoryWrite32(0, R.IntrStatus, 1);

        Assert.False(doorbell.Interrupts.IntxLevel);
        Assert.Equal(0, function.ConfigRead8(PciHeader.InterruptPin));
        Assert.Throws<PciDriverException>(() => function.ConfigureInterrupts(PciInterruptKind.Intx));
    }
}
