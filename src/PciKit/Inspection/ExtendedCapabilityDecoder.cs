namespace PciKit.Inspection;

/// <summary>Extended capabilities in the 4 KiB configuration space, starting at 0x100.</summary>
internal static class ExtendedCapabilityDecoder
{
    private static readonly Dictionary<int, string> Names = new()
    {
        [0x01] = "Advanced Error Reporting",
        [0x02] = "Virtual Channel",
        [0x04] = "Power Budgeting <?>",
        [0x05] = "Root Complex Link",
        [0x06] = "Root Complex Internal Link <?>",
        [0x07] = "Root Complex Event Collector Endpoint Association",
        [0x08] = "Multi-Function Virtual Channel <?>",
        [0x09] = "Virtual Channel",
        [0x0a] = "Root Complex Register Block <?>",
        [0x0d] = "Access Control Services",
        [0x0e] = "Alternative Routing-ID Interpretation (ARI)",
        [0x0f] = "Address Translation Service (ATS)",
        [0x10] = "Single Root I/O Virtualization (SR-IOV)",
        [0x11] = "Multi-Root I/O Virtualization <?>",
        [0x12] = "Multicast",
        [0x13] = "Page Request Interface (PRI)",
        [0x15] = "Physical Resizable BAR",
        [0x16] = "Dynamic Power Allocation <?>",
        [0x17] = "Transaction Processing Hints",
        [0x18] = "Latency Tolerance Reporting",
        [0x19] = "Secondary PCI Express",
        [0x1a] = "Protocol Multiplexing <?>",
        [0x1b] = "Process Address Space ID (PASID)",
        [0x1c] = "LN Requester <?>",
        [0x1d] = "Downstream Port Containment",
        [0x1e] = "L1 PM Substates",
        [0x1f] = "Precision Time Measurement",
        [0x20] = "PCI Express over M_PHY <?>",
        [0x21] = "FRS Queueing <?>",
        [0x22] = "Readiness Time Reporting <?>",
        [0x24] = "Virtual Resizable BAR",
        [0x25] = "Data Link Feature <?>",
        [0x26] = "Physical Layer 16.0 GT/s <?>",
        [0x27] = "Lane Margining at the Receiver <?>",
        [0x28] = "Hierarchy ID <?>",
        [0x29] = "Native PCIe Enclosure Management <?>",
        [0x2e] = "Data Object Exchange",
    };

    internal static void Write(LspciContext ctx)
    {
        ConfigView c = ctx.Config;
        Span<bool> seen = stackalloc bool[ConfigView.ExtendedSize / 4];
        int where = 0x100;
        while (where >= 0x100 && where <= ConfigView.ExtendedSize - 4)
        {
            uint header = c.U32(where);
            if (header == 0 || header == 0xffffffff)
            {
                break;
            }

            int id = (int)(header & 0xffff);
            int version = (int)((header >> 16) & 0xf);
            string prefix = ctx.Verbosity > 1 ? $"\tCapabilities: [{where:x3} v{version}] " : $"\tCapabilities: [{where:x3}] ";
            if (seen[where / 4])
            {
                ctx.Line(prefix + "<chain looped>");
                break;
            }

            seen[where / 4] = true;
            ctx.Out.Append(prefix);
            WriteOne(ctx, where, id);
            where = (int)(header >> 20) & ~3;
        }
    }

    private static void WriteOne(LspciContext ctx, int where, int id)
    {
        ConfigView c = ctx.Config;
        switch (id)
        {
            case 0x03:
                uint lo = c.U32(where + 4), hi = c.U32(where + 8);
                ctx.Line($"Device Serial Number {hi >> 24:x2}-{(hi >> 16) & 0xff:x2}-{(hi >> 8) & 0xff:x2}-{hi & 0xff:x2}-"
                    + $"{lo >> 24:x2}-{(lo >> 16) & 0xff:x2}-{(lo >> 8) & 0xff:x2}-{lo & 0xff:x2}");
                break;
            case 0x0b:
                uint vsec = c.U32(where + 4);
                ctx.Line($"Vendor Specific Information: ID={vsec & 0xffff:x4} Rev={(vsec >> 16) & 0xf} Len={vsec >> 20:x3} <?>");
                break;
            case 0x23:
                uint h1 = c.U32(where + 4);
                ushort h2 = c.U16(where + 8);
                ctx.Line($"Designated Vendor-Specific: Vendor={h1 & 0xffff:x4} ID={h2:x4} Rev={(h1 >> 16) & 0xf} Len={h1 >> 20} <?>");
                break;
            default:
                ctx.Line(Names.TryGetValue(id, out string? name) ? name : $"Extended Capability ID 0x{id:x}");
                break;
        }
    }
}
