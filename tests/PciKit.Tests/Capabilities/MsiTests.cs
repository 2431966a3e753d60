using PciKit.Capabilities;
using PciKit.Config;
using PciKit.Device;
using PciKit.Tests.TestDevices;

namespace PciKit.Tests.Capabilities;

/// <summary>MSI (PCI 3.0, 6.8.1): enable, multiple messages, address/data, per-vector masking.</summary>
public class MsiTests
{
    private const int Control = 2, AddressLow = 4, AddressHigh = 8, Data64 = 0xC, Mask64 = 0x10, Pending64 = 0x14;

    private sealed class Fixture
    {
        public InterruptDevice Device { get; } = new();
        public RecordingSink Sink { get; } = new();
        public int Cap { get; }

        public Fixture()
        {
            Cap = Device.CapOffset(PciCapabilityId.Msi);
            Device.Connect(Sink, null);
        }

        public void Write(int rel, int size, uint value) => Device.ConfigWrite(Cap + rel, size, value);
        public uint Read(int rel, int size) => Device.ConfigRead(Cap + rel, size);

        /// <summary>Programs address, data and vector count (log2), then enables MSI and Bus Master.</summary>
        public void Enable(ushort data = 0x4440, int log2Vectors = 2, ulong address = 0x1_FEE0_0000)
        {
            Write(AddressLow, 4, (uint)address);
            Write(AddressHigh, 4, (uint)(address >> 32));
            Write(Data64, 2, data);
            Write(Control, 2, (uint)(log2Vectors << 4) | 1);
            Device.SetCommand(PciCommand.BusMaster);
        }
    }

    [Fact]
    public void Message_control_advertises_the_capabilities_and_starts_disabled()
    {
        var f = new Fixture();

        // Multiple Message Capable = log2(4) = 2, 64-bit, per-vector masking; Enable and MME = 0.
        Assert.Equal((2u << 1) | 0x80 | 0x100, f.Read(Control, 2));
        Assert.False(f.Device.Msi!.Enabled);
        Assert.False(f.Device.SignalMsi(0));
        Assert.Empty(f.Sink.Messages);
    }

    [Fact]
    public void Multiple_message_enable_is_clamped_to_what_the_function_is_capable_of()
    {
        var f = new Fixture();

        f.Write(Control, 2, 5 << 4); // asks for 32 vectors
        Assert.Equal(2u, (f.Read(Control, 2) >> 4) & 7);
        Assert.Equal(4, f.Device.Msi!.EnabledVectors);

        f.Write(Control, 1, 1 << 4); // byte write: 2 vectors
        Assert.Equal(1u, (f.Read(Control, 2) >> 4) & 7);
        Assert.Equal(2, f.Device.Msi.EnabledVectors);
    }

    [Fact]
    public void Read_only_control_bits_ignore_writes()
    {
        var f = new Fixture();

        f.Write(Control, 2, 0xFFFF & ~0x70u);

        Assert.Equal((2u << 1) | 0x80 | 0x100 | 1, f.Read(Control, 2));
    }

    [Fact]
    public void A_64_bit_capability_sends_to_the_full_address_with_the_vector_in_the_low_data_bits()
    {
        var f = new Fixture();
        f.Enable(data: 0x4440, log2Vectors: 2, address: 0x1_FEE0_1000);

        for (int v = 0; v < 4; v++) Assert.True(f.Device.SignalMsi(v));

        Assert.Equal(
            [.. Enumerable.Range(0, 4).Select(v => new MsiMessage(PciInterruptKind.Msi, v, 0x1_FEE0_1000, 0x4440u + (uint)v))],
            f.Sink.Messages);
        Assert.Equal(4, f.Device.Counters.MessagesSentCount);
    }

    [Fact]
    public void The_low_data_bits_the_function_replaces_depend_on_the_enabled_vector_count()
    {
        var f = new Fixture();
        f.Enable(data: 0x4447, log2Vectors: 1); // 2 vectors: only bit 0 carries the vector

        f.Device.SignalMsi(0);
        f.Device.SignalMsi(1);

        Assert.Equal([0x4446u, 0x4447u], f.Sink.Messages.Select(m => m.Data));
    }

    [Fact]
    public void Vectors_beyond_the_enabled_count_are_not_sent()
    {
        var f = new Fixture();
        f.Enable(log2Vectors: 1);

        Assert.False(f.Device.SignalMsi(2));
        Assert.False(f.Device.SignalMsi(-1));
        Assert.Empty(f.Sink.Messages);
    }

    [Fact]
    public void The_message_address_is_dword_aligned()
    {
        var f = new Fixture();

        f.Write(AddressLow, 4, 0xFEE0_0003);

        Assert.Equal(0xFEE0_0000u, f.Read(AddressLow, 4));
    }

    [Fact]
    public void A_32_bit_capability_has_its_data_at_offset_8_and_no_upper_address()
    {
        var device = new CustomDevice(d => d.Capability(new MsiCapability(vectors: 1, is64Bit: false, perVectorMask: true)));
        var sink = new RecordingSink();
        device.Connect(sink, null);
        int cap = device.Msi!.Offset;

        Assert.Equal(20, device.Msi.Length);
        Assert.Equal(0x100u, device.ConfigRead(cap + Control, 2)); // 1 vector, 32-bit, maskable
        device.ConfigWrite(cap + AddressLow, 4, 0xFEE0_2000);
        device.ConfigWrite(cap + 8, 2, 0x0031);
        device.ConfigWrite(cap + Control, 2, 1);
        device.SetCommand(PciCommand.BusMaster);

        Assert.True(device.Locked(() => device.Interrupts.SignalMsi(0)));
        Assert.Equal(new MsiMessage(PciInterruptKind.Msi, 0, 0xFEE0_2000, 0x31), Assert.Single(sink.Messages));

        device.ConfigWrite(cap + 0xC, 4, 1); // mask register of a 32-bit capability
        Assert.False(device.Locked(() => device.Interrupts.SignalMsi(0)));
        Assert.Equal(1u, device.ConfigRead(cap + 0x10, 4)); // pending
    }

    [Fact]
    public void Only_implemented_mask_bits_are_writable_and_pending_bits_are_read_only()
    {
        var f = new Fixture();

        f.Write(Mask64, 4, 0xFFFF_FFFF);
        f.Write(Pending64, 4, 0xFFFF_FFFF);

        Assert.Equal(0xFu, f.Read(Mask64, 4));
        Assert.Equal(0u, f.Read(Pending64, 4));
    }

    [Fact]
    public void A_masked_vector_sets_its_pending_bit_and_unmasking_delivers_it_exactly_once()
    {
        var f = new Fixture();
        f.Enable();
        f.Write(Mask64, 4, 0b0010);

        Assert.False(f.Device.SignalMsi(1));
        Assert.False(f.Device.SignalMsi(1)); // a second signal while masked is still one pending message
        Assert.Equal(0b0010u, f.Read(Pending64, 4));
        Assert.Empty(f.Sink.Messages);

        f.Write(Mask64, 4, 0);
        Assert.Equal(0u, f.Read(Pending64, 4));
        Assert.Equal(1, Assert.Single(f.Sink.Messages).Vector);

        f.Write(Mask64, 4, 0); // unmasking again delivers nothing
        f.Write(Control, 2, (2 << 4) | 1);
        Assert.Single(f.Sink.Messages);
    }

    [Fact]
    public void Other_vectors_are_delivered_while_one_is_masked()
    {
        var f = new Fixture();
        f.Enable();
        f.Write(Mask64, 4, 0b0001);

        Assert.True(f.Device.SignalMsi(3));

        Assert.Equal(3, Assert.Single(f.Sink.Messages).Vector);
    }

    [Fact]
    public void No_message_goes_out_while_Bus_Master_is_off_and_the_drop_is_counted()
    {
        var f = new Fixture();
        f.Enable();
        f.Device.SetCommand(PciCommand.None);

        Assert.False(f.Device.SignalMsi(0));

        Assert.Empty(f.Sink.Messages);
        Assert.Equal(1, f.Device.Counters.MessagesBlockedByBusMasterCount);
        Assert.Equal(0, f.Device.Counters.MessagesSentCount);
    }

    [Fact]
    public void Enabling_MSI_takes_over_from_INTx()
    {
        var f = new Fixture();
        f.Device.SetIntx(true);
        Assert.True(f.Sink.IntxLine);

        f.Enable();
        Assert.False(f.Sink.IntxLine);
        Assert.NotEqual(0, f.Device.Status() & (int)PciStatus.InterruptStatus);

        f.Write(Control, 2, 0); // MSI off: the pin level shows again
        Assert.True(f.Sink.IntxLine);
    }

    [Fact]
    public void Invalid_vector_counts_are_rejected()
    {
        var e = Assert.Throws<PciDefinitionException>(() => new MsiCapability(vectors: 3));
        Assert.Contains("1, 2, 4, 8, 16 or 32", e.Message);
    }
}
