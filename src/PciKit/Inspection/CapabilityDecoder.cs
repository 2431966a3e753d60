namespace PciKit.Inspection;

/// <summary>Walks the conventional capability list (0x34) and dispatches each entry to its decoder.</summary>
internal static class CapabilityDecoder
{
    internal static void Write(LspciContext ctx)
    {
        ConfigView c = ctx.Config;
        int expressType = -1;
        if ((ctx.Status & 0x10) != 0)
        {
            Span<bool> seen = stackalloc bool[256];
            int where = c.U8(ctx.HeaderType == 2 ? 0x14 : 0x34) & ~3;
            while (where != 0)
            {
                byte id = c.U8(where);
                int next = c.U8(where + 1) & ~3;
                ushort cap = c.U16(where + 2);
                string prefix = $"\tCapabilities: [{where:x2}] ";
                if (seen[where])
                {
                    ctx.Line(prefix + "<chain looped>");
                    break;
                }

                seen[where] = true;
                if (id == 0xff)
                {
                    ctx.Line(prefix + "<chain broken>");
                    break;
                }

                ctx.Out.Append(prefix);
                if (id == 0x10)
                {
                    expressType = ExpressDecoder.Write(ctx, where, cap);
                }
                else
                {
                    WriteOne(ctx, id, where, cap);
                }

                where = next;
            }
        }

        if (expressType >= 0 && c.HasExtendedSpace)
        {
            ExtendedCapabilityDecoder.Write(ctx);
        }
    }

    private static void WriteOne(LspciContext ctx, byte id, int where, ushort cap)
    {
        ConfigView c = ctx.Config;
        switch (id)
        {
            case 0x00:
                ctx.Line("Null");
                break;
            case 0x01:
                PowerManagementDecoder.Write(ctx, where, cap);
                break;
            case 0x02:
                ctx.Line($"AGP version {(cap >> 4) & 0x0f:x}.{cap & 0x0f:x} <?>");
                break;
            case 0x03:
                ctx.Line("Vital Product Data");
                if (ctx.Verbosity > 1)
                {
                    // The VPD is read through the capability's address/data registers, not from a byte image.
                    ctx.Line("\t\tNot readable");
                }

                break;
            case 0x04:
                ctx.Line($"Slot ID: {cap & 0x1f} slots, First{LspciContext.F(cap, 0x20)}, chassis {cap >> 8:x2}");
                break;
            case 0x05:
                MsiDecoder.WriteMsi(ctx, where, cap);
                break;
            case 0x06:
                ctx.Line("CompactPCI hot-swap <?>");
                break;
            case 0x07:
                ctx.Line("PCI-X <?>");
                break;
            case 0x08:
                ctx.Line("HyperTransport <?>");
                break;
            case 0x09:
                VendorCapabilityDecoder.Write(ctx, where);
                break;
            case 0x0a:
                ctx.Line($"Debug port: BAR={cap >> 13} offset={cap & 0x1fff:x4}");
                break;
            case 0x0b:
                ctx.Line("CompactPCI central resource control <?>");
                break;
            case 0x0c:
                ctx.Line("Hot-plug capable");
                break;
            case 0x0d:
                ctx.Line("Subsystem: " + LspciNames.SubsystemText(
                    ctx.Options.Names, ctx.Vendor, ctx.Device, c.U16(where + 4), c.U16(where + 6), ctx.Options.NumericIds));
                break;
            case 0x0e:
                ctx.Line("AGP3 <?>");
                break;
            case 0x0f:
                ctx.Line("Secure device <?>");
                break;
            case 0x11:
                MsiDecoder.WriteMsiX(ctx, where, cap);
                break;
            case 0x12:
                WriteSata(ctx, where, cap);
                break;
            case 0x13:
                WriteAdvancedFeatures(ctx, where);
                break;
            case 0x14:
                ctx.Line($"Enhanced Allocation (EA): NumEntries={cap & 0x3f}");
                break;
            default:
                ctx.Line($"Capability ID 0x{id:x} [{cap:x4}]");
                break;
        }
    }

    private static void WriteSata(LspciContext ctx, int where, ushort cap)
    {
        uint bars = ctx.Config.U32(where + 4);
        uint bar = bars & 0xf;
        string text = $"SATA HBA v{(cap >> 4) & 0xf}.{cap & 0xf}";
        if (ctx.Verbosity < 2)
        {
            ctx.Line(text);
            return;
        }

        if (bar >= 4 && bar <= 9)
        {
            text += $" BAR{bar - 4} Offset={(bars >> 4) & 0xfffff:x8}";
        }
        else
        {
            text += bar == 0xf ? " InCfgSpace" : $" BAR??{bar}";
        }

        ctx.Line(text);
    }

    private static void WriteAdvancedFeatures(LspciContext ctx, int where)
    {
        ctx.Line("PCI Advanced Features");
        if (ctx.Verbosity < 2)
        {
            return;
        }

        ConfigView c = ctx.Config;
        uint afCap = c.U8(where + 3), ctl = c.U8(where + 4), st = c.U8(where + 5);
        ctx.Line($"\t\tAFCap: TP{LspciContext.F(afCap, 1)} FLR{LspciContext.F(afCap, 2)}");
        ctx.Line($"\t\tAFCtrl: FLR{LspciContext.F(ctl, 1)}");
        ctx.Line($"\t\tAFStatus: TP{LspciContext.F(st, 1)}");
    }
}
