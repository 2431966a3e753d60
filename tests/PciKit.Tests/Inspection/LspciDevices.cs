using static PciKit.Tests.Inspection.ConfigSpaceBuilder;

namespace PciKit.Tests.Inspection;

/// <summary>Hand-built configuration spaces used by the lspci oracle tests.</summary>
internal static class LspciDevices
{
    /// <summary>QEMU's edu device: 1234:11e8 rev 0x10, class 00ff00, BAR0 1 MiB memory, INTA, 64-bit MSI at 0x40.</summary>
    internal static byte[] Edu() => new ConfigSpaceBuilder(0x1234, 0x11e8)
        .Command(0x0006)
        .Class(0x00ff00, 0x10)
        .Bar(0, 0xfea00000)
        .Subsystem(0x1af4, 0x1100)
        .Interrupt(11, 1)
        .Capability(0x05, Concat(Le16(0x0080), new byte[12]))
        .Build();

    /// <summary>
    /// A PCIe NIC-like endpoint (4 KiB space): PM, MSI with per-vector masking, MSI-X, PCIe v2 endpoint with FLR,
    /// a vendor capability, then Device Serial Number and an unknown extended capability.
    /// </summary>
    internal static byte[] PcieEndpoint() => new ConfigSpaceBuilder(0x8086, 0x10d3, 4096)
        .Command(0x0507)
        .Class(0x020000, 0x00)
        .U8(0x0c, 0x10)
        .Bar(0, 0xfebc0000)
        .Bar(1, 0xfebe000c)
        .Bar(2, 0x00000000)
        .Bar(3, 0x0000c041)
        .Subsystem(0x8086, 0xa01f)
        .Rom(0xfeb80001)
        .Interrupt(10, 1)
        // PM v3: D1-, PME from D0/D3hot/D3cold; PMCSR: D3, NoSoftRst, PME enabled, PME status.
        .Capability(0x01, Concat(Le16(0xc823), Le16(0xa10b), [0x00, 0x00]))
        // MSI: enabled, 2 of 4 vectors, 64-bit, per-vector masking; address, data, mask, pending.
        .Capability(0x05, Concat(Le16(0x01a5), Le32(0xfee00000), Le32(0x00000001), Le16(0x4021), Le16(0), Le32(0x3), Le32(0x1)))
        // MSI-X: enabled, 5 vectors; table BAR3 + 0, PBA BAR3 + 0x2000.
        .Capability(0x11, Concat(Le16(0x8004), Le32(0x00000003), Le32(0x00002003)))
        // PCIe v2 endpoint: DevCap with FLR, DevCtl, DevSta, LnkCap/Ctl/Sta, DevCap2/Ctl2, LnkCap2/Ctl2/Sta2.
        .Capability(0x10, Concat(
            Le16(0x0002),
            Le32(0x10008cc1), Le16(0x281f), Le16(0x0011),
            Le32(0x00474c12), Le16(0x0040), Le16(0x1011),
            new byte[16],
            Le32(0x00000810), Le16(0x0000), Le16(0x0000),
            Le32(0x0000000e), Le16(0x0002), Le16(0x0000),
            new byte[8]))
        .Capability(0x09, [0x10, 0xab, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        .ExtendedCapability(0x0003, 1, Concat(Le32(0x12345678), Le32(0x9abcdef0), new byte[52]))
        .ExtendedCapability(0x007f, 1, Le32(0xdeadbeef))
        .Build();

    /// <summary>Regions: 64-bit prefetchable memory, I/O, 32-bit prefetchable, a disabled ROM.</summary>
    internal static byte[] Bars() => new ConfigSpaceBuilder(0x1b36, 0x0010)
        .Command(0x0003)
        .Class(0x010802, 0x02)
        .Bar(0, 0x0000000c)
        .Bar(1, 0x00000080)
        .Bar(2, 0x0000c001)
        .Bar(3, 0xfd000008)
        .Rom(0xfe800000)
        .Subsystem(0x1af4, 0x1100)
        .Interrupt(0, 1)
        .Build();

    /// <summary>A capability list that points back at itself after two entries.</summary>
    internal static byte[] LoopedChain() => new ConfigSpaceBuilder(0x1234, 0x11e8)
        .Capability(0x09, [0x08, 0, 0, 0, 0, 0])
        .Capability(0x01, Concat(Le16(0x0003), Le16(0), [0, 0]))
        .U8(0x49, 0x40)
        .Build();

    /// <summary>A capability list whose second entry has ID 0xff (all-ones read).</summary>
    internal static byte[] BrokenChain() => new ConfigSpaceBuilder(0x1234, 0x11e8)
        .Capability(0x05, Concat(Le16(0x0000), new byte[8]))
        .U8(0x41, 0xf0)
        .U8(0xf0, 0xff)
        .U8(0xf1, 0x40)
        .Build();

    /// <summary>A PCIe endpoint whose extended capability list loops back to 0x100.</summary>
    internal static byte[] LoopedExtendedChain() => new ConfigSpaceBuilder(0x1234, 0x11e8, 4096)
        .Capability(0x10, Concat(Le16(0x0001), new byte[16]))
        .U32(0x100, 0x10010003)
        .Build();
}
