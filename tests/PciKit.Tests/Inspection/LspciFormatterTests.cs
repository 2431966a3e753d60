using PciKit.Inspection;

namespace PciKit.Tests.Inspection;

/// <summary>Formatter behaviour that lspci -F cannot show (sizes, driver, no database, malformed input).</summary>
public sealed class LspciFormatterTests
{
    [Fact]
    public void RegionsAddSizesAndOtherLinesStillMatchLspci()
    {
        byte[] bytes = LspciDevices.Bars();
        LspciRegion[] regions =
        [
            new(0x80_0000_0000, 16 * 1024),
            default,
            new(0xc000, 64, LspciRegionKind.Io),
            new(0xfd00_0000, 16 * 1024 * 1024),
            default,
            default,
            new(0xfe80_0000, 256 * 1024),
        ];
        string text = LspciFormatter.Format(bytes, new LspciOptions { Slot = "00:05.0", Verbosity = 2, Regions = regions, Names = LspciOracle.Names });

        Assert.Contains("\tRegion 0: Memory at 8000000000 (64-bit, prefetchable) [size=16K]\n", text, StringComparison.Ordinal);
        Assert.Contains("\tRegion 2: I/O ports at c000 [size=64]\n", text, StringComparison.Ordinal);
        Assert.Contains("\tRegion 3: Memory at fd000000 (32-bit, prefetchable) [size=16M]\n", text, StringComparison.Ordinal);
        Assert.Contains("\tExpansion ROM at fe800000 [disabled] [size=256K]\n", text, StringComparison.Ordinal);

        // lspci -F has no sysfs, so it cannot print [size=...]: compare with the size suffix removed.
        string expected = LspciOracle.Run(LspciOracle.Dump("00:05.0", bytes), "-vv");
        string withoutSizes = System.Text.RegularExpressions.Regex.Replace(text, @" \[size=[0-9]+[KMGT]?\]", string.Empty);
        LspciOracle.AssertSameText(expected, withoutSizes);
    }

    [Fact]
    public void VirtualRegionIsMarked()
    {
        // A VF-style BAR: the register reads zero but the OS reports a resource.
        byte[] bytes = new ConfigSpaceBuilder(0x8086, 0x10ca).Command(0x0002).Build();
        string text = LspciFormatter.Format(bytes, new LspciOptions { Verbosity = 2, Regions = [new(0xfe000000, 0x4000)] });

        Assert.Contains("\tRegion 0: Memory at fe000000 (32-bit, non-prefetchable) [virtual] [size=16K]\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void KernelDriverLineEndsTheVerboseBlock()
    {
        // Not compared with lspci: with -F it has no sysfs and so no driver to show.
        string text = LspciFormatter.Format(LspciDevices.Edu(), new LspciOptions { Verbosity = 1, KernelDriver = "vfio-pci" });

        Assert.EndsWith("\tKernel driver in use: vfio-pci\n\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void IrqOptionOverridesInterruptLine()
    {
        string text = LspciFormatter.Format(LspciDevices.Edu(), new LspciOptions { Verbosity = 2, Irq = 42 });

        Assert.Contains("\tInterrupt: pin A routed to IRQ 42\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void WithoutDatabaseUsesBuiltInClassNames()
    {
        Assert.Equal(
            "00:00.0 Ethernet controller: Device 8086:10d3\n",
            LspciFormatter.Format(LspciDevices.PcieEndpoint(), new LspciOptions()));
        Assert.Equal(
            "00:00.0 Unclassified device [00ff]: Device [1234:11e8] (rev 10)\n",
            LspciFormatter.Format(LspciDevices.Edu(), new LspciOptions { NumericIds = true }));
        byte[] unknownClass = new ConfigSpaceBuilder(0x1234, 0x5678).Class(0x2a0000, 0).Build();
        Assert.Equal("00:00.0 Class 2a00: Device 1234:5678\n", LspciFormatter.Format(unknownClass, new LspciOptions()));
    }

    [Fact]
    public void ShortConfigReadsAsAllOnes()
    {
        byte[] bytes = LspciDevices.Edu().AsSpan(0, 0x40).ToArray();

        string text = LspciFormatter.Format(bytes, new LspciOptions { Verbosity = 3, HexLevel = 2 });

        Assert.Contains("40: ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff\n", text, StringComparison.Ordinal);
        Assert.Contains("<chain broken>", text, StringComparison.Ordinal);
    }

    [Fact]
    public void EmptyConfigDoesNotThrow()
    {
        string text = LspciFormatter.Format([], new LspciOptions { Verbosity = 3, HexLevel = 3 });

        Assert.StartsWith("00:00.0 ", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1, 0)]
    [InlineData(4, 0)]
    [InlineData(0, -1)]
    [InlineData(0, 4)]
    public void OutOfRangeOptionsThrow(int verbosity, int hexLevel)
    {
        Assert.Throws<ArgumentOutOfRangeException>(
            () => LspciFormatter.Format(LspciDevices.Edu(), new LspciOptions { Verbosity = verbosity, HexLevel = hexLevel }));
    }

    [Fact]
    public void RandomBytesNeverThrowOrHang()
    {
        var random = new Random(1234);
        byte[] bytes = new byte[4096];
        for (int i = 0; i < 300; i++)
        {
            random.NextBytes(bytes);
            bytes[0x06] |= 0x10;                    // capability list present
            bytes[0x0e] = 0;                        // type-0 header
            bytes[0x40] = 0x10;                     // often a PCIe cap, so extended caps are walked too
            for (int v = 0; v <= 3; v++)
            {
                string text = LspciFormatter.Format(bytes, new LspciOptions { Verbosity = v, HexLevel = 3 });
                Assert.StartsWith("00:00.0 ", text, StringComparison.Ordinal);
            }
        }
    }
}
