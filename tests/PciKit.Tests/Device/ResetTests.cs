using PciKit.Capabilities;
using PciKit.Config;
using PciKit.Device;
using PciKit.Tests.TestDevices;

namespace PciKit.Tests.Device;

/// <summary>Conventional reset: the function returns to its power-on state.</summary>
public class ResetTests
{
    [Fact]
    public void A_conventional_reset_restores_the_power_on_configuration_space()
    {
        var device = new InterruptDevice();
        var powerOn = device.Config.Bytes.ToArray();
        int msi = device.CapOffset(PciCapabilityId.Msi);
        device.ConfigWrite(PciHeader.Bar0, 4, 0xFEB0_0000);
        device.ConfigWrite(PciHeader.Bar0 + 8, 4, 0xFEA0_0000);
        device.ConfigWrite(PciHeader.Bar0 + 12, 4, 0x1);
        device.ConfigWrite(PciHeader.CacheLineSize, 1, 0x10);
        device.ConfigWrite(PciHeader.InterruptLine, 1, 11);
        device.SetCommand(PciCommand.MemorySpace | PciCommand.BusMaster | PciCommand.InterruptDisable);
        device.ConfigWrite(msi + 4, 4, 0xFEE0_0000);
        device.ConfigWrite(msi + 2, 2, 0x21);
        device.Locked(() => device.Config.SetBits16(PciHeader.Status, (ushort)PciStatus.ReceivedMasterAbort));
        Assert.NotEqual(powerOn, device.Config.Bytes.ToArray());

        device.Reset();

        Assert.Equal(powerOn, device.Config.Bytes.ToArray());
        Assert.Equal([PciResetKind.Conventional], device.ResetKinds);
        Assert.Equal(1, device.Counters.ResetCount);
        Assert.False(device.Msi!.Enabled);
        Assert.Equal(0ul, device.GetBarAddress(2));
    }

    [Fact]
    public void Write_masks_still_work_after_a_reset()
    {
        var device = new RegisterDevice();
        device.Reset();

        device.ConfigWrite(PciHeader.Bar0, 4, 0xFFFF_FFFF);
        device.SetCommand(PciCommand.MemorySpace | PciCommand.IoSpace);

        Assert.Equal(0xFFFF_F000u, device.ConfigRead(PciHeader.Bar0, 4));
        Assert.Equal((int)(PciCommand.MemorySpace | PciCommand.IoSpace), device.Command());
    }

    [Fact]
    public void A_reset_deasserts_INTx()
    {
        var device = new RegisterDevice();
        var sink = new RecordingSink();
        device.Connect(sink, null);
        device.SetIntx(true);

        device.Reset();

        Assert.Equal([true, false], sink.IntxChanges);
        Assert.False(device.Interrupts.IntxLevel);
        Assert.Equal(0, device.Status());
    }

    [Fact]
    public void A_device_without_an_interrupt_pin_cannot_assert_INTx()
    {
        var device = new CustomDevice(TestIds.Plain);
        var e = Assert.Throws<InvalidOperationException>(() => device.Locked(() => device.Interrupts.SetIntx(true)));
        Assert.Contains("InterruptPin", e.Message);
    }
}
