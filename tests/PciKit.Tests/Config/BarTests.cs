using PciKit.Config;
using PciKit.Device;
using PciKit.Tests.TestDevices;

namespace PciKit.Tests.Config;

/// <summary>Base address registers: the sizing probe (PCI 3.0, 6.2.5.1), the ROM BAR (6.2.5.2), and BAR definitions.</summary>
public class BarTests
{
    private static uint Probe(PciDevice device, int register)
    {
        device.ConfigWrite(register, 4, 0xFFFF_FFFF);
        return device.ConfigRead(register, 4);
    }

    private static int Reg(int bar) => PciHeader.Bar0 + 4 * bar;

    [Fact]
    public void Probing_a_32_bit_memory_BAR_reads_back_its_size_and_type()
    {
        var device = new CustomDevice(d => d.Bar(0, PciBar.Memory32(0x1000)));

        Assert.Equal(0u, device.ConfigRead(Reg(0), 4)); // type 00b, not prefetchable, unassigned
        Assert.Equal(0xFFFF_F000u, Probe(device, Reg(0)));

        device.ConfigWrite(Reg(0), 4, 0xFEBC_1234); // low address bits are not writable
        Assert.Equal(0xFEBC_1000u, device.ConfigRead(Reg(0), 4));
        Assert.Equal(0xFEBC_1000ul, device.GetBarAddress(0));
    }

    [Fact]
    public void Probing_a_prefetchable_BAR_keeps_the_prefetchable_bit()
    {
        var device = new CustomDevice(d => d.Bar(1, PciBar.Memory32(0x10_0000, prefetchable: true)));

        Assert.Equal(0x8u, device.ConfigRead(Reg(1), 4));
        Assert.Equal(0xFFF0_0008u, Probe(device, Reg(1)));
    }

    [Fact]
    public void Probing_a_64_bit_BAR_sizes_both_halves()
    {
        var device = new CustomDevice(d => d.Bar(2, PciBar.Memory64(0x2_0000_0000, prefetchable: true))); // 8 GiB

        Assert.Equal(0xCu, device.ConfigRead(Reg(2), 4)); // type 10b, prefetchable
        Assert.Equal(0x0000_000Cu, Probe(device, Reg(2)));  // no low address bit below 8 GiB
        Assert.Equal(0xFFFF_FFFEu, Probe(device, Reg(3)));

        device.ConfigWrite(Reg(2), 4, 0);
        device.ConfigWrite(Reg(3), 4, 0x0000_0004);
        Assert.Equal(0x4_0000_0000ul, device.GetBarAddress(2));
    }

    [Fact]
    public void A_small_64_bit_BAR_has_all_upper_bits_writable()
    {
        var device = new CustomDevice(d => d.Bar(0, PciBar.Memory64(0x4000)));

        Assert.Equal(0xFFFF_C004u, Probe(device, Reg(0)));
        Assert.Equal(0xFFFF_FFFFu, Probe(device, Reg(1)));
    }

    [Fact]
    public void Probing_an_IO_BAR_reads_back_its_size_and_the_IO_bit()
    {
        var device = new CustomDevice(d => d.Bar(4, PciBar.Io(32)));

        Assert.Equal(0x1u, device.ConfigRead(Reg(4), 4));
        Assert.Equal(0xFFFF_FFE1u, Probe(device, Reg(4)));
    }

    [Fact]
    public void The_ROM_BAR_sizes_like_a_memory_BAR_and_has_a_writable_enable_bit()
    {
        var device = new CustomDevice(d => d.Bar(PciDevice.RomIndex, PciBar.Rom(0x8000, [0x55, 0xAA])));

        Assert.Equal(0u, device.ConfigRead(PciHeader.RomAddress, 4));
        Assert.Equal(0xFFFF_8001u, Probe(device, PciHeader.RomAddress));

        device.ConfigWrite(PciHeader.RomAddress, 4, 0xFEB0_0000);
        Assert.Equal(0xFEB0_0000u, device.ConfigRead(PciHeader.RomAddress, 4));
        Assert.False(device.IsDecoding(PciDevice.RomIndex));

        device.ConfigWrite(PciHeader.RomAddress, 4, 0xFEB0_0001);
        device.SetCommand(PciCommand.MemorySpace);
        Assert.True(device.IsDecoding(PciDevice.RomIndex));
        Assert.Equal(0xAA55ul, device.BarRead(PciDevice.RomIndex, 0, 2));
        Assert.Equal(0xFEB0_0000ul, device.GetBarAddress(PciDevice.RomIndex));
    }

    [Fact]
    public void The_ROM_is_read_only_from_the_bus()
    {
        var device = new CustomDevice(d => d.Bar(PciDevice.RomIndex, PciBar.Rom(0x800, [0x55, 0xAA])));
        device.ConfigWrite(PciHeader.RomAddress, 4, 0xFEB0_0001);
        device.SetCommand(PciCommand.MemorySpace);

        device.BarWrite(PciDevice.RomIndex, 0, 2, 0x1234);

        Assert.Equal(0xAA55ul, device.BarRead(PciDevice.RomIndex, 0, 2));
        Assert.Equal(0ul, device.BarRead(PciDevice.RomIndex, 2, 4)); // the rest of the ROM is zero
    }

    [Fact]
    public void Unimplemented_BARs_read_zero_and_ignore_writes()
    {
        var device = new CustomDevice(d => d.Bar(0, PciBar.Memory64(0x1000)));

        for (int bar = 2; bar < 6; bar++)
            Assert.Equal(0u, Probe(device, Reg(bar)));
        Assert.Equal(0u, Probe(device, PciHeader.RomAddress));
        Assert.Equal(0u, Probe(device, PciHeader.CardbusCis));
    }

    public static TheoryData<string, Func<PciBar>, string> InvalidBars => new()
    {
        { "non-power-of-two memory", () => PciBar.Memory32(0x3000), "round up to 16384" },
        { "non-power-of-two 64-bit", () => PciBar.Memory64(100_000), "round up to 131072" },
        { "too small memory", () => PciBar.Memory32(8), "at least 16" },
        { "zero-sized memory", () => PciBar.Memory64(0), "at least 16" },
        { "too large 32-bit", () => PciBar.Memory32(1UL << 32), "use Memory64" },
        { "too small I/O", () => PciBar.Io(2), "at least 4" },
        { "I/O above 256 bytes", () => PciBar.Io(512), "use a memory BAR" },
        { "too small ROM", () => PciBar.Rom(1024, []), "at least 2048" },
        { "ROM image larger than the BAR", () => PciBar.Rom(2048, new byte[3000]), "at least 4096" },
    };

    [Theory]
    [MemberData(nameof(InvalidBars))]
    public void Invalid_BAR_sizes_are_rejected_with_a_hint(string what, Func<PciBar> create, string hint)
    {
        var e = Assert.Throws<PciDefinitionException>(create);
        Assert.True(e.Message.Contains(hint, StringComparison.Ordinal), $"{what}: '{e.Message}' should say '{hint}'");
    }

    [Fact]
    public void A_64_bit_BAR_cannot_start_at_BAR5()
    {
        var e = Assert.Throws<PciDefinitionException>(() => new CustomDevice(d => d.Bar(5, PciBar.Memory64(0x1000))));
        Assert.Contains("Use BAR 0–4", e.Message);
    }

    [Fact]
    public void The_upper_half_of_a_64_bit_BAR_cannot_be_defined()
    {
        var e = Assert.Throws<PciDefinitionException>(() => new CustomDevice(d =>
        {
            d.Bar(0, PciBar.Memory64(0x1000));
            d.Bar(1, PciBar.Memory32(0x1000));
        }));
        Assert.Contains("upper half of the 64-bit BAR 0", e.Message);
    }

    [Fact]
    public void A_64_bit_BAR_needs_its_next_slot_free()
    {
        var e = Assert.Throws<PciDefinitionException>(() => new CustomDevice(d =>
        {
            d.Bar(3, PciBar.Io(16));
            d.Bar(2, PciBar.Memory64(0x1000));
        }));
        Assert.Contains("needs slot 3", e.Message);
    }

    [Fact]
    public void A_BAR_slot_is_defined_once()
    {
        var e = Assert.Throws<PciDefinitionException>(() => new CustomDevice(d =>
        {
            d.Bar(0, PciBar.Memory32(0x1000));
            d.Bar(0, PciBar.Memory32(0x1000));
        }));
        Assert.Contains("already defined", e.Message);
    }

    [Fact]
    public void The_ROM_goes_only_at_index_6_and_only_a_ROM_goes_there()
    {
        var rom = Assert.Throws<PciDefinitionException>(() => new CustomDevice(d => d.Bar(0, PciBar.Rom(2048, []))));
        Assert.Contains("index 6", rom.Message);
        var notRom = Assert.Throws<PciDefinitionException>(() => new CustomDevice(d => d.Bar(PciDevice.RomIndex, PciBar.Memory32(2048))));
        Assert.Contains("PciBar.Rom", notRom.Message);
        var outOfRange = Assert.Throws<PciDefinitionException>(() => new CustomDevice(d => d.Bar(7, PciBar.Memory32(2048))));
        Assert.Contains("BARs are 0–5", outOfRange.Message);
    }

    [Fact]
    public void Regions_must_fit_in_the_BAR_and_not_overlap()
    {
        var bar = PciBar.Memory32(0x1000);
        bar.Add(0x100, new RegisterRegion("a", 0x100, (_, _) => 0, (_, _, _) => { }));

        var overlap = Assert.Throws<PciDefinitionException>(() => bar.Add(0x180, new RegisterRegion("b", 0x10, (_, _) => 0, (_, _, _) => { })));
        Assert.Contains("Region 'b' at 0x180 (+0x10) overlaps region 'a' at 0x100 (+0x100)", overlap.Message);
        var outside = Assert.Throws<PciDefinitionException>(() => bar.Add(0xFF8, new RegisterRegion("c", 0x10, (_, _) => 0, (_, _, _) => { })));
        Assert.Contains("enlarge the BAR or move the region", outside.Message);

        bar.Add(0x200, new RegisterRegion("d", 0xE00, (_, _) => 0, (_, _, _) => { })); // adjacent, up to the end
        Assert.Equal([0x100ul, 0x200ul], bar.Regions.Select(r => r.Offset));
    }
}
