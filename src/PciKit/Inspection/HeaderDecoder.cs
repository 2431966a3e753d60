namespace PciKit.Inspection;

/// <summary>Subsystem, Control/Status, latency, interrupt and BIST lines of the standard header.</summary>
internal static class HeaderDecoder
{
    private static readonly string[] DevselNames = ["fast", "medium", "slow", "??"];

    internal static void Write(LspciContext ctx)
    {
        ConfigView c = ctx.Config;
        int type = ctx.HeaderType;
        if (type == 0)
        {
            ushort sv = c.U16(0x2c), sd = c.U16(0x2e);
            if (sv != 0 && sv != 0xffff)
            {
                ctx.Line("\tSubsystem: " + LspciNames.SubsystemText(ctx.Options.Names, ctx.Vendor, ctx.Device, sv, sd, ctx.Options.NumericIds));
            }
        }

        if (ctx.Verbosity > 1)
        {
            WriteControlStatus(ctx);
        }
        else
        {
            WriteFlags(ctx);
        }

        byte bist = c.U8(0x0f);
        if ((bist & 0x80) != 0)
        {
            ctx.Line((bist & 0x40) != 0 ? "\tBIST is running" : $"\tBIST result: {bist & 0x0f:x2}");
        }

        if (type == 0)
        {
            BarDecoder.WriteBars(ctx, 6);
            BarDecoder.WriteRom(ctx, 0x30);
        }
        else
        {
            ctx.Line($"\t!!! Unsupported header type {type:x2} (PciKit decodes type 0 only)");
        }
    }

    private static int Irq(LspciContext ctx) => ctx.Options.Irq ?? ctx.Config.U8(0x3c);

    private static void WriteControlStatus(LspciContext ctx)
    {
        uint cmd = ctx.Command, st = ctx.Status;
        ctx.Line($"\tControl: I/O{F(cmd, 0x1)} Mem{F(cmd, 0x2)} BusMaster{F(cmd, 0x4)} SpecCycle{F(cmd, 0x8)} "
            + $"MemWINV{F(cmd, 0x10)} VGASnoop{F(cmd, 0x20)} ParErr{F(cmd, 0x40)} Stepping{F(cmd, 0x80)} "
            + $"SERR{F(cmd, 0x100)} FastB2B{F(cmd, 0x200)} DisINTx{F(cmd, 0x400)}");
        ctx.Line($"\tStatus: Cap{F(st, 0x10)} 66MHz{F(st, 0x20)} UDF{F(st, 0x40)} FastB2B{F(st, 0x80)} "
            + $"ParErr{F(st, 0x100)} DEVSEL={DevselNames[(st >> 9) & 3]} >TAbort{F(st, 0x800)} <TAbort{F(st, 0x1000)} "
            + $"<MAbort{F(st, 0x2000)} >SERR{F(st, 0x4000)} <PERR{F(st, 0x8000)} INTx{F(st, 0x8)}");

        ConfigView c = ctx.Config;
        if ((cmd & 0x4) != 0)
        {
            string text = $"\tLatency: {c.U8(0x0d)}";
            if (ctx.HeaderType == 0)
            {
                int minGnt = c.U8(0x3e), maxLat = c.U8(0x3f);
                if (minGnt != 0 || maxLat != 0)
                {
                    text += " (";
                    if (minGnt != 0)
                    {
                        text += $"{minGnt * 250}ns min";
                    }

                    if (minGnt != 0 && maxLat != 0)
                    {
                        text += ", ";
                    }

                    if (maxLat != 0)
                    {
                        text += $"{maxLat * 250}ns max";
                    }

                    text += ")";
                }
            }

            int cacheLine = c.U8(0x0c);
            if (cacheLine != 0)
            {
                text += $", Cache Line Size: {cacheLine * 4} bytes";
            }

            ctx.Line(text);
        }

        int pin = c.U8(0x3d), irq = Irq(ctx);
        if (pin != 0 || irq != 0)
        {
            char pinChar = pin != 0 ? (char)(byte)('A' + pin - 1) : '?';
            ctx.Line($"\tInterrupt: pin {pinChar} routed to IRQ {irq}");
        }
    }

    private static void WriteFlags(LspciContext ctx)
    {
        uint cmd = ctx.Command, st = ctx.Status;
        string text = "\tFlags: ";
        if ((cmd & 0x4) != 0)
        {
            text += "bus master, ";
        }

        if ((cmd & 0x20) != 0)
        {
            text += "VGA palette snoop, ";
        }

        if ((cmd & 0x80) != 0)
        {
            text += "stepping, ";
        }

        if ((cmd & 0x200) != 0)
        {
            text += "fast Back2Back, ";
        }

        if ((st & 0x20) != 0)
        {
            text += "66MHz, ";
        }

        if ((st & 0x40) != 0)
        {
            text += "user-definable features, ";
        }

        text += DevselNames[(st >> 9) & 3] + " devsel";
        if ((cmd & 0x4) != 0)
        {
            text += $", latency {ctx.Config.U8(0x0d)}";
        }

        int irq = Irq(ctx);
        if (irq != 0)
        {
            text += $", IRQ {irq}";
        }

        ctx.Line(text);
    }

    private static char F(uint value, uint mask) => LspciContext.F(value, mask);
}
