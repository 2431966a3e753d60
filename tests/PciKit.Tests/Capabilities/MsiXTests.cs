using PciKit.Capabilities;
using PciKit.Config;
using PciKit.Device;
using PciKit.Tests.TestDevices;

namespace PciKit.Tests.Capabilities;

/// <summary>MSI-X (PCI 3.0, 6.8.2): table and PBA in a BAR, function mask, per-vector mask, pending bits.</summary>
public class MsiXTests
{
    private const int Control = 2, TableReg = 4, PbaReg = 8;
    private const ushort Enable = 0x8000, FunctionMask = 0x4000;
    private const ulong Table = InterruptDevice.TableOffset, Pba = InterruptDevice.PbaOffset;

    private sealed class Fixture
    {
        public InterruptDevice Device { get; } = new();
        public RecordingSink Sink { get; } = new();
        public int Cap { get; }

        public Fixture()
        {
            Cap = Device.CapOffset(PciCapabilityId.MsiX);
            Device.Connect(Sink, null);
            Device.ConfigWrite(PciHeader.Bar0 + 8, 4, 0xFEB0_0000); // BAR2 (64-bit)
            Device.SetCommand(PciCommand.MemorySpace | PciCommand.BusMaster);
        }

        public void SetControl(ushort bits) => Device.ConfigWrite(Cap + Control, 2, bits);

        /// <summary>Programs entry <paramref name="vector"/> with a distinct address and data, masked or not.</summary>
        public void Program(int vector, bool masked)
        {
            ulong entry = Table + (ulong)vector * 16;
            Device.BarWrite(2, entry, 8, 0xFEE0_0000UL + (ulong)vector * 0x10);
            Device.BarWrite(2, entry + 8, 4, 0x40u + (uint)vector);
            Device.BarWrite(2, entry + 12, 4, masked ? 1u : 0u);
        }

        public ulong PbaBits => Device.BarRead(2, Pba, 8);
    }

    [Fact]
    public void The_capability_points_at_the_table_and_PBA_in_the_declared_BAR()
    {
        var f = new Fixture();

        Assert.Equal(InterruptDevice.MsiXVectors - 1u, f.Device.ConfigRead(f.Cap + Control, 2));
        Assert.Equal((uint)Table | 2, f.Device.ConfigRead(f.Cap + TableReg, 4));
        Assert.Equal((uint)Pba | 2, f.Device.ConfigRead(f.Cap + PbaReg, 4));
        Assert.Contains(f.Device.GetBar(2)!.Regions, r => r.Offset == Table && r.Region.Name == "msix-table" && r.Region.Size == 8 * 16);
        Assert.Contains(f.Device.GetBar(2)!.Regions, r => r.Offset == Pba && r.Region.Name == "msix-pba" && r.Region.Size == 8);
    }

    [Fact]
    public void Every_vector_is_masked_at_power_on()
    {
        var f = new Fixture();

        for (int v = 0; v < InterruptDevice.MsiXVectors; v++)
        {
            Assert.Equal(0ul, f.Device.BarRead(2, Table + (ulong)v * 16, 8));
            Assert.Equal(1ul, f.Device.BarRead(2, Table + (ulong)v * 16 + 12, 4));
        }
        Assert.Equal(0ul, f.PbaBits);
    }

    [Fact]
    public void Table_entries_read_back_what_was_written_and_only_the_mask_bit_of_vector_control_is_writable()
    {
        var f = new Fixture();

        f.Device.BarWrite(2, Table + 16, 4, 0xFEE0_1000);
        f.Device.BarWrite(2, Table + 20, 4, 0x1);
        f.Device.BarWrite(2, Table + 24, 8, 0xFFFF_FFFF_0000_0055); // data and vector control in one qword

        Assert.Equal(0x1_FEE0_1000ul, f.Device.BarRead(2, Table + 16, 8));
        Assert.Equal(0x0000_0001_0000_0055ul, f.Device.BarRead(2, Table + 24, 8));
        Assert.Equal(0x1_FEE0_1000ul, f.Device.MsiX!.EntryAddress(1));
        Assert.Equal(0x55u, f.Device.MsiX.EntryData(1));
    }

    [Theory]
    [InlineData(1, 0ul)]
    [InlineData(2, 0ul)]
    [InlineData(4, 2ul)]
    [InlineData(8, 4ul)]
    public void Invalid_table_accesses_read_all_ones_and_writes_are_dropped(int size, ulong offset)
    {
        var f = new Fixture();
        f.Program(0, masked: true);

        ulong expected = size == 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;
        Assert.Equal(expected, f.Device.BarRead(2, Table + offset, size));
        f.Device.BarWrite(2, Table + offset, size, 0);

        Assert.Equal(0xFEE0_0000ul, f.Device.BarRead(2, Table, 8));
        Assert.Equal(2, f.Device.Counters.InvalidBarAccessCount);
    }

    [Fact]
    public void The_PBA_is_read_only()
    {
        var f = new Fixture();
        f.Program(3, masked: true);
        f.SetControl(Enable);
        f.Device.SignalMsiX(3);

        f.Device.BarWrite(2, Pba, 8, 0);
        f.Device.BarWrite(2, Pba, 4, 0xFFFF_FFFF);

        Assert.Equal(1ul << 3, f.PbaBits);
        Assert.Equal(1ul << 3, f.Device.BarRead(2, Pba, 4));
        Assert.Equal(0ul, f.Device.BarRead(2, Pba + 4, 4));
    }

    [Fact]
    public void An_unmasked_vector_sends_its_entry_address_and_data()
    {
        var f = new Fixture();
        f.Program(5, masked: false);
        f.SetControl(Enable);

        Assert.True(f.Device.SignalMsiX(5));

        Assert.Equal(new MsiMessage(PciInterruptKind.MsiX, 5, 0xFEE0_0050, 0x45), Assert.Single(f.Sink.Messages));
    }

    [Fact]
    public void Nothing_is_sent_or_pended_while_MSI_X_is_disabled()
    {
        var f = new Fixture();
        f.Program(0, masked: false);

        Assert.False(f.Device.SignalMsiX(0));
        Assert.False(f.Device.SignalMsiX(InterruptDevice.MsiXVectors));

        Assert.Empty(f.Sink.Messages);
        Assert.Equal(0ul, f.PbaBits);
    }

    [Fact]
    public void A_masked_vector_sets_its_PBA_bit_and_unmasking_delivers_once_and_clears_it()
    {
        var f = new Fixture();
        f.Program(2, masked: true);
        f.SetControl(Enable);

        Assert.False(f.Device.SignalMsiX(2));
        Assert.False(f.Device.SignalMsiX(2));
        Assert.Equal(1ul << 2, f.PbaBits);
        Assert.True(f.Device.MsiX!.IsPending(2));
        Assert.Empty(f.Sink.Messages);

        f.Device.BarWrite(2, Table + 2 * 16 + 12, 4, 0);

        Assert.Equal(2, Assert.Single(f.Sink.Messages).Vector);
        Assert.Equal(0ul, f.PbaBits);
        f.Device.BarWrite(2, Table + 2 * 16 + 12, 4, 0); // already unmasked: nothing more
        Assert.Single(f.Sink.Messages);
    }

    [Fact]
    public void The_function_mask_pends_every_vector_until_it_is_cleared()
    {
        var f = new Fixture();
        f.Program(0, masked: false);
        f.Program(7, masked: false);
        f.Program(4, masked: true);
        f.SetControl(Enable | FunctionMask);

        f.Device.SignalMsiX(0);
        f.Device.SignalMsiX(7);
        f.Device.SignalMsiX(4);
        Assert.Equal((1ul << 0) | (1ul << 4) | (1ul << 7), f.PbaBits);
        Assert.Empty(f.Sink.Messages);

        f.Device.BarWrite(2, Table + 12, 4, 0); // unmasking an entry while the function is masked sends nothing
        Assert.Empty(f.Sink.Messages);

        f.SetControl(Enable);

        Assert.Equal([0, 7], f.Sink.Messages.Select(m => m.Vector));
        Assert.Equal(1ul << 4, f.PbaBits); // still masked per vector
    }

    [Fact]
    public void Only_enable_and_function_mask_are_writable_in_message_control()
    {
        var f = new Fixture();

        f.SetControl(0xFFFF);

        Assert.Equal(0xC000u | (InterruptDevice.MsiXVectors - 1u), f.Device.ConfigRead(f.Cap + Control, 2));
        Assert.True(f.Device.MsiX!.Enabled);
        Assert.True(f.Device.MsiX.FunctionMasked);
    }

    [Fact]
    public void No_message_goes_out_while_Bus_Master_is_off_and_the_drop_is_counted()
    {
        var f = new Fixture();
        f.Program(1, masked: false);
        f.SetControl(Enable);
        f.Device.SetCommand(PciCommand.MemorySpace);

        Assert.False(f.Device.SignalMsiX(1));

        Assert.Empty(f.Sink.Messages);
        Assert.Equal(1, f.Device.Counters.MessagesBlockedByBusMasterCount);
    }

    [Fact]
    public void Enabling_MSI_X_takes_over_from_INTx()
    {
        var f = new Fixture();
        f.Device.SetIntx(true);
        Assert.True(f.Sink.IntxLine);

        f.SetControl(Enable);

        Assert.False(f.Sink.IntxLine);
    }

    [Fact]
    public void A_reset_masks_every_vector_again_and_clears_the_PBA()
    {
        var f = new Fixture();
        f.Program(1, masked: true);
        f.SetControl(Enable);
        f.Device.SignalMsiX(1);
        f.Program(1, masked: false); // delivers the pending message
        f.Device.SignalMsiX(1);
        f.Program(2, masked: true);
        f.Device.SignalMsiX(2);

        f.Device.Reset();

        Assert.False(f.Device.MsiX!.Enabled);
        Assert.True(f.Device.MsiX.IsVectorMasked(1));
        Assert.False(f.Device.MsiX.IsPending(2));
        Assert.Equal(0ul, f.Device.MsiX.EntryAddress(1));
    }

    [Fact]
    public void Invalid_definitions_are_rejected()
    {
        Assert.Contains("1 to 2048", Assert.Throws<PciDefinitionException>(() => new MsiXCapability(0, 0, 0, 0, 0x800)).Message);
        Assert.Contains("8-byte aligned", Assert.Throws<PciDefinitionException>(() => new MsiXCapability(4, 0, 4, 0, 0x800)).Message);
        Assert.Contains("overlap", Assert.Throws<PciDefinitionException>(() => new MsiXCapability(4, 0, 0, 0, 0x30)).Message);
        var noBar = Assert.Throws<PciDefinitionException>(() => new CustomDevice(d => d.Capability(new MsiXCapability(4, 3, 0, 3, 0x800))));
        Assert.Contains("define the BAR first", noBar.Message);
        var ioBar = Assert.Throws<PciDefinitionException>(() => new CustomDevice(d =>
        {
            d.Bar(0, PciBar.Io(256));
            d.Capability(new MsiXCapability(4, 0, 0, 0, 0x80));
        }));
        Assert.Contains("needs a memory BAR", ioBar.Message);
    }
}
