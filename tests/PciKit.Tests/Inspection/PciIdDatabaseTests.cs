using PciKit.Inspection;

namespace PciKit.Tests.Inspection;

public sealed class PciIdDatabaseTests
{
    private const string Sample = """
        # comment
        8086  Intel Corporation
        	10d3  82574L Gigabit Network Connection
        		8086 a01f  Gigabit CT Desktop Adapter
        1af4  Red Hat, Inc.
        C 02  Network controller
        	00  Ethernet controller
        C 0c  Serial bus controller
        	03  USB controller
        		30  XHCI
        """;

    private static PciIdDatabase Parse() => PciIdDatabase.Parse(new StringReader(Sample.Replace("    ", string.Empty, StringComparison.Ordinal)));

    [Fact]
    public void LooksUpVendorsDevicesAndSubsystems()
    {
        PciIdDatabase db = Parse();

        Assert.Equal("Intel Corporation", db.Vendor(0x8086));
        Assert.Equal("82574L Gigabit Network Connection", db.Device(0x8086, 0x10d3));
        Assert.Equal("Gigabit CT Desktop Adapter", db.Subsystem(0x8086, 0x10d3, 0x8086, 0xa01f));
        Assert.Equal("Red Hat, Inc.", db.Vendor(0x1af4));
        Assert.Null(db.Vendor(0x1234));
        Assert.Null(db.Device(0x1af4, 0x10d3));
    }

    [Fact]
    public void LooksUpClasses()
    {
        PciIdDatabase db = Parse();

        Assert.Equal("Network controller", db.Class(0x02));
        Assert.Equal("Ethernet controller", db.Subclass(0x02, 0x00));
        Assert.Equal("XHCI", db.ProgIf(0x0c, 0x03, 0x30));
        Assert.Null(db.Subclass(0x02, 0x80));
    }

    [Fact]
    public void NamesTheSubsystemAfterTheDeviceWhenIdsAreEqual()
    {
        byte[] bytes = new ConfigSpaceBuilder(0x8086, 0x10d3).Class(0x020000, 0).Subsystem(0x8086, 0x10d3).Build();

        string text = LspciFormatter.Format(bytes, new LspciOptions { Verbosity = 1, Names = Parse() });

        Assert.Contains("\tSubsystem: Intel Corporation 82574L Gigabit Network Connection\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void ParsesTheInstalledDatabase()
    {
        PciIdDatabase db = LspciOracle.Names;

        Assert.Equal("Intel Corporation", db.Vendor(0x8086));
        Assert.Equal("Unclassified device", db.Class(0x00));
    }
}
