using PciKit.Capabilities;
using PciKit.Config;
using PciKit.Device;
using PciKit.Tests.TestDevices;

namespace PciKit.Tests.Config;

/// <summary>The type 0 header (PCI Local Bus 3.0, 6.1–6.2) that every device gets from its definition.</summary>
public class HeaderTests
{
    private static readonly PciIdentity Identity = new()
    {
        VendorId = 0x1b36, DeviceId = 0x0011, Revision = 0x42, ClassCode = 0x0C0330,
        SubsystemVendorId = 0x1af4, SubsystemId = 0x1100, InterruptPin = PciInterruptPin.IntB,
    };

    [Fact]
    public void Identification_registers_come_from_the_identity_and_are_read_only()
    {
        var device = new CustomDevice(d => d.Bar(0, PciBar.Memory32(0x1000)), Identity);

        Assert.Equal(0x1b36u, device.ConfigRead(PciHeader.VendorId, 2));
        Assert.Equal(0x0011u, device.ConfigRead(PciHeader.DeviceId, 2));
        Assert.Equal(0x0C03_3042u, device.ConfigRead(PciHeader.RevisionId, 4)); // class code above the revision
        Assert.Equal(0x1100_1af4u, device.ConfigRead(PciHeader.SubsystemVendorId, 4));

        var before = device.Config.Bytes[..0x10].ToArray();
        device.ConfigWrite(PciHeader.VendorId, 4, 0);
        device.ConfigWrite(PciHeader.RevisionId, 4, 0);
        device.ConfigWrite(PciHeader.SubsystemVendorId, 4, 0);
        Assert.Equal(before[..4], device.Config.Bytes[..4].ToArray());
        Assert.Equal(before[8..12], device.Config.Bytes[8..12].ToArray());
        Assert.Equal(0x1100_1af4u, device.ConfigRead(PciHeader.SubsystemVendorId, 4));
    }

    [Fact]
    public void Header_type_is_0_with_the_multi_function_bit_only_when_declared()
    {
        var single = new CustomDevice(TestIds.Plain);
        var multi = new CustomDevice(TestIds.Plain with { MultiFunction = true });

        Assert.Equal(0x00u, single.ConfigRead(PciHeader.HeaderType, 1));
        Assert.Equal(0x80u, multi.ConfigRead(PciHeader.HeaderType, 1));
        multi.ConfigWrite(PciHeader.HeaderType, 1, 0);
        Assert.Equal(0x80u, multi.ConfigRead(PciHeader.HeaderType, 1));
    }

    [Fact]
    public void Vendor_id_0xFFFF_is_rejected_because_it_means_no_device()
    {
        var e = Assert.Throws<PciDefinitionException>(() => new CustomDevice(TestIds.Plain with { VendorId = 0xFFFF }));
        Assert.Contains("vendor ID", e.Message);
    }

    [Fact]
    public void Command_register_accepts_only_the_bits_the_device_implements()
    {
        var device = new CustomDevice(d => d.Bar(0, PciBar.Memory32(0x1000))); // memory BAR only, no pin

        device.ConfigWrite(PciHeader.Command, 2, 0xFFFF);

        var command = (PciCommand)device.Command();
        Assert.Equal(PciCommand.MemorySpace | PciCommand.BusMaster | PciCommand.ParityErrorResponse | PciCommand.SerrEnable, command);
        Assert.False(command.HasFlag(PciCommand.IoSpace));
        Assert.False(command.HasFlag(PciCommand.InterruptDisable));
    }

    [Fact]
    public void IO_space_enable_is_writable_for_a_device_with_an_IO_BAR()
    {
        var device = new CustomDevice(d => d.Bar(0, PciBar.Io(16)));

        device.SetCommand(PciCommand.IoSpace | PciCommand.MemorySpace);

        Assert.Equal(PciCommand.IoSpace, (PciCommand)device.Command());
    }

    [Fact]
    public void Interrupt_disable_is_writable_only_with_an_interrupt_pin()
    {
        var withPin = new CustomDevice(TestIds.WithPin);
        var withoutPin = new CustomDevice(TestIds.Plain);

        withPin.SetCommand(PciCommand.InterruptDisable);
        withoutPin.SetCommand(PciCommand.InterruptDisable);

        Assert.Equal(PciCommand.InterruptDisable, (PciCommand)withPin.Command());
        Assert.Equal(PciCommand.None, (PciCommand)withoutPin.Command());
    }

    [Fact]
    public void Declaring_interrupt_disable_without_a_pin_is_a_definition_error()
    {
        var e = Assert.Throws<PciDefinitionException>(() => new CustomDevice(d => d.CommandFeatures = PciCommand.InterruptDisable | PciCommand.BusMaster));
        Assert.Contains("interrupt pin", e.Message);
    }

    [Fact]
    public void Custom_command_features_replace_the_defaults()
    {
        var device = new CustomDevice(d => { d.Bar(0, PciBar.Memory32(0x1000)); d.CommandFeatures = PciCommand.MemorySpace; });

        device.ConfigWrite(PciHeader.Command, 2, 0xFFFF);

        Assert.Equal(PciCommand.MemorySpace, (PciCommand)device.Command());
    }

    [Fact]
    public void Status_capabilities_bit_is_set_exactly_when_there_is_a_capability_list()
    {
        var without = new CustomDevice(TestIds.Plain);
        var with = new CustomDevice(d => d.Capability(new PowerManagementCapability()));

        Assert.Equal(0, without.Status() & (int)PciStatus.CapabilitiesList);
        Assert.Equal(0u, without.ConfigRead(PciHeader.CapabilitiesPointer, 1));
        Assert.NotEqual(0, with.Status() & (int)PciStatus.CapabilitiesList);
        Assert.Equal(0x40u, with.ConfigRead(PciHeader.CapabilitiesPointer, 1));
    }

    [Fact]
    public void Status_read_only_bits_ignore_writes_and_interrupt_status_follows_the_pin_level()
    {
        var device = new RegisterDevice();

        device.SetIntx(true);
        device.ConfigWrite(PciHeader.Status, 2, (uint)PciStatus.InterruptStatus); // neither clears it nor errors
        Assert.NotEqual(0, device.Status() & (int)PciStatus.InterruptStatus);

        device.SetIntx(false);
        device.ConfigWrite(PciHeader.Status, 2, 0x00FF); // low byte is read-only
        Assert.Equal(0, device.Status());
    }

    [Fact]
    public void Status_error_bits_are_write_one_to_clear()
    {
        var device = new CustomDevice(TestIds.Plain);
        device.Locked(() => device.Config.SetBits16(PciHeader.Status, (ushort)PciStatus.ErrorBits));

        device.ConfigWrite(PciHeader.Status, 2, 0); // zeros leave them
        Assert.Equal((int)PciStatus.ErrorBits, device.Status());

        device.ConfigWrite(PciHeader.Status, 2, (uint)(PciStatus.ReceivedMasterAbort | PciStatus.DetectedParityError));
        Assert.Equal((int)(PciStatus.ErrorBits & ~(PciStatus.ReceivedMasterAbort | PciStatus.DetectedParityError)), device.Status());

        device.ConfigWrite(PciHeader.Status, 2, 0xFFFF);
        Assert.Equal(0, device.Status());
    }

    [Fact]
    public void A_write_to_command_does_not_clear_status_error_bits()
    {
        var device = new CustomDevice(d => d.Bar(0, PciBar.Memory32(0x1000)));
        device.Locked(() => device.Config.SetBits16(PciHeader.Status, (ushort)PciStatus.SignaledSystemError));

        device.ConfigWrite(PciHeader.Command, 2, (uint)PciCommand.MemorySpace); // 2-byte write to Command only

        Assert.Equal((int)PciStatus.SignaledSystemError, device.Status());
    }

    [Fact]
    public void Cache_line_latency_timer_and_interrupt_line_are_read_write_and_the_pin_is_read_only()
    {
        var device = new CustomDevice(TestIds.WithPin);

        device.ConfigWrite(PciHeader.CacheLineSize, 1, 0x10);
        device.ConfigWrite(PciHeader.LatencyTimer, 1, 0x40);
        device.ConfigWrite(PciHeader.InterruptLine, 2, 0x0309); // line 9; pin write ignored

        Assert.Equal(0x10u, device.ConfigRead(PciHeader.CacheLineSize, 1));
        Assert.Equal(0x40u, device.ConfigRead(PciHeader.LatencyTimer, 1));
        Assert.Equal(0x09u, device.ConfigRead(PciHeader.InterruptLine, 1));
        Assert.Equal((uint)PciInterruptPin.IntA, device.ConfigRead(PciHeader.InterruptPin, 1));
    }

    [Fact]
    public void Latency_timer_is_hardwired_to_zero_for_PCI_Express()
    {
        var device = new CustomDevice(d => d.Capability(new PciExpressCapability()));

        device.ConfigWrite(PciHeader.LatencyTimer, 1, 0x40);

        Assert.Equal(0u, device.ConfigRead(PciHeader.LatencyTimer, 1));
        Assert.Equal(4096, device.Config.Size);
    }

    [Fact]
    public void Invalid_config_accesses_through_the_device_are_counted()
    {
        var device = new CustomDevice(TestIds.Plain);

        Assert.Equal(0xFFFF_FFFFu, device.ConfigRead(0x100, 4));
        device.ConfigWrite(0x00, 3, 0);

        Assert.Equal(2, device.Counters.InvalidConfigAccessCount);
        Assert.Equal(0x1234u, device.ConfigRead(PciHeader.VendorId, 2));
    }

    [Fact]
    public void The_definition_cannot_change_after_realize()
    {
        CustomDevice.Definition? definition = null;
        var device = new CustomDevice(d => definition = d);

        Assert.True(device.Config.IsSealed);
        var e = Assert.Throws<InvalidOperationException>(() => definition!.Bar(0, PciBar.Memory32(0x1000)));
        Assert.Contains("before Realize()", e.Message);
    }
}
