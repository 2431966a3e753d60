using PciKit.Inspection;

namespace PciKit.Tests.Inspection;

/// <summary>PciKit's lspci text against the real <c>lspci -F</c> on the same bytes.</summary>
public sealed class LspciFormatterOracleTests
{
    public static TheoryData<string, int, bool> Cases()
    {
        var data = new TheoryData<string, int, bool>();
        foreach (string device in new[] { "edu", "pcie", "bars", "looped", "broken", "extlooped" })
        {
            for (int v = 0; v <= 3; v++)
            {
                data.Add(device, v, false);
                data.Add(device, v, true);
            }
        }

        return data;
    }

    internal static (string Slot, byte[] Bytes) Device(string name) => name switch
    {
        "edu" => ("00:04.0", LspciDevices.Edu()),
        "pcie" => ("01:00.0", LspciDevices.PcieEndpoint()),
        "bars" => ("00:05.0", LspciDevices.Bars()),
        "looped" => ("00:06.0", LspciDevices.LoopedChain()),
        "broken" => ("00:07.0", LspciDevices.BrokenChain()),
        "extlooped" => ("02:00.0", LspciDevices.LoopedExtendedChain()),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesLspci(string device, int verbosity, bool numeric)
    {
        (string slot, byte[] bytes) = Device(device);
        string expected = LspciOracle.Run(LspciOracle.Dump(slot, bytes), LspciOracle.Flags(verbosity, numeric));

        string actual = LspciFormatter.Format(bytes, new LspciOptions
        {
            Slot = slot,
            Verbosity = verbosity,
            NumericIds = numeric,
            Names = LspciOracle.Names,
        });

        LspciOracle.AssertSameText(expected, actual);
    }

    [Fact]
    public void EduSummaryAndMsiLinesAreTheExpectedOnes()
    {
        string text = LspciFormatter.Format(LspciDevices.Edu(), new LspciOptions { Slot = "00:04.0", Verbosity = 2, Names = LspciOracle.Names });

        Assert.StartsWith("00:04.0 Unclassified device [00ff]: Device 1234:11e8 (rev 10)\n", text, StringComparison.Ordinal);
        Assert.Contains("\tInterrupt: pin A routed to IRQ 11\n", text, StringComparison.Ordinal);
        Assert.Contains("\tRegion 0: Memory at fea00000 (32-bit, non-prefetchable)\n", text, StringComparison.Ordinal);
        Assert.Contains("\tCapabilities: [40] MSI: Enable- Count=1/1 Maskable- 64bit+\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void PcieEndpointShowsEveryCapability()
    {
        string text = LspciFormatter.Format(LspciDevices.PcieEndpoint(), new LspciOptions { Slot = "01:00.0", Verbosity = 3, Names = LspciOracle.Names });

        Assert.Contains("\tCapabilities: [40] Power Management version 3\n", text, StringComparison.Ordinal);
        Assert.Contains("\t\tMasking: 00000003  Pending: 00000001\n", text, StringComparison.Ordinal);
        Assert.Contains("\t\tPBA: BAR=3 offset=00002000\n", text, StringComparison.Ordinal);
        Assert.Contains("RBE+ FLReset+ SlotPowerLimit 0W\n", text, StringComparison.Ordinal);
        Assert.Contains("Vendor Specific Information: Len=10 <?>\n", text, StringComparison.Ordinal);
        Assert.Contains("\tCapabilities: [100 v1] Device Serial Number 9a-bc-de-f0-12-34-56-78\n", text, StringComparison.Ordinal);
        Assert.Contains("\tCapabilities: [140 v1] Extended Capability ID 0x7f\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("edu", 1, "-x")]
    [InlineData("edu", 2, "-xxx")]
    [InlineData("pcie", 1, "-x")]
    [InlineData("pcie", 2, "-xxx")]
    [InlineData("pcie", 3, "-xxxx")]
    [InlineData("bars", 3, "-xxxx")]
    public void HexDumpMatchesLspci(string device, int hexLevel, string flag)
    {
        (string slot, byte[] bytes) = Device(device);
        string expected = LspciOracle.Run(LspciOracle.Dump(slot, bytes), flag);

        string actual = LspciFormatter.Format(bytes, new LspciOptions { Slot = slot, HexLevel = hexLevel, Names = LspciOracle.Names });

        LspciOracle.AssertSameText(expected, actual);
    }

    [Theory]
    [InlineData("edu", 0)]
    [InlineData("pcie", 0)]
    [InlineData("pcie", 3)]
    [InlineData("bars", 2)]
    public void HexDumpRoundTripsThroughLspci(string device, int verbosity)
    {
        (string slot, byte[] bytes) = Device(device);
        var options = new LspciOptions { Slot = slot, HexLevel = 3, Verbosity = verbosity, Names = LspciOracle.Names };
        string ours = LspciFormatter.Format(bytes, options);

        // Our own output, fed back to lspci as a dump, must decode to the very same text.
        string reread = LspciOracle.Run(ours, [.. LspciOracle.Flags(verbosity, false), "-xxxx"]);

        LspciOracle.AssertSameText(reread, ours);
    }
}
