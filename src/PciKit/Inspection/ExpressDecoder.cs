namespace PciKit.Inspection;

/// <summary>PCI Express capability (ID 0x10): device registers; link registers live in ExpressDecoder.Link.cs.</summary>
internal static partial class ExpressDecoder
{
    internal const int Endpoint = 0, LegacyEndpoint = 1, RootPort = 4, Upstream = 5, Downstream = 6;
    internal const int PcieToPciBridge = 7, PciToPcieBridge = 8, RcIntegratedEndpoint = 9, RcEventCollector = 10;

    private static readonly string[] L0sDevLatency = ["<64ns", "<128ns", "<256ns", "<512ns", "<1us", "<2us", "<4us", "unlimited"];
    private static readonly string[] L1DevLatency = ["<1us", "<2us", "<4us", "<8us", "<16us", "<32us", "<64us", "unlimited"];

    /// <summary>Writes the capability and returns the device/port type (bits 7:4 of the capabilities register).</summary>
    internal static int Write(LspciContext ctx, int where, ushort flags)
    {
        int type = (flags >> 4) & 0xf;
        int version = flags & 0xf;
        bool slot = (flags & 0x100) != 0;
        string name = type switch
        {
            Endpoint => "Endpoint",
            LegacyEndpoint => "Legacy Endpoint",
            RootPort => $"Root Port (Slot{(slot ? '+' : '-')})",
            Upstream => "Upstream Port",
            Downstream => $"Downstream Port (Slot{(slot ? '+' : '-')})",
            PcieToPciBridge => "PCI-Express to PCI/PCI-X Bridge",
            PciToPcieBridge => "PCI/PCI-X to PCI-Express Bridge",
            RcIntegratedEndpoint => "Root Complex Integrated Endpoint",
            RcEventCollector => "Root Complex Event Collector",
            _ => $"Unknown type {type}",
        };
        string ver = ctx.Verbosity > 1 ? $"(v{version}) " : string.Empty;
        ctx.Line($"Express {ver}{name}, MSI {(flags >> 9) & 0x1f:x2}");
        if (ctx.Verbosity < 2)
        {
            return type;
        }

        WriteDevice(ctx, where, type);
        bool hasLink = type != RcIntegratedEndpoint && type != RcEventCollector;
        if (hasLink)
        {
            WriteLink(ctx, where, type);
        }

        if (version >= 2)
        {
            WriteDevice2(ctx, where, type);
            if (hasLink)
            {
                WriteLink2(ctx, where, type);
            }
        }

        return type;
    }

    private static bool IsEndpoint(int type) => type is Endpoint or LegacyEndpoint or RcIntegratedEndpoint;

    private static void WriteDevice(LspciContext ctx, int where, int type)
    {
        ConfigView c = ctx.Config;
        uint cap = c.U32(where + 4);
        uint ctl = c.U16(where + 8);
        uint sta = c.U16(where + 10);

        string line = $"\t\tDevCap:\tMaxPayload {128 << (int)(cap & 7)} bytes, PhantFunc {(1 << (int)((cap >> 3) & 3)) - 1}";
        if (type is Endpoint or LegacyEndpoint)
        {
            line += $", Latency L0s {L0sDevLatency[(cap >> 6) & 7]}, L1 {L1DevLatency[(cap >> 9) & 7]}";
        }

        ctx.Line(line);
        line = $"\t\t\tExtTag{F(cap, 0x20)}";
        if (type is Endpoint or LegacyEndpoint or Upstream or PcieToPciBridge)
        {
            line += $" AttnBtn{F(cap, 0x1000)} AttnInd{F(cap, 0x2000)} PwrInd{F(cap, 0x4000)}";
        }

        line += $" RBE{F(cap, 0x8000)}";
        if (IsEndpoint(type) && (cap & 0x10000000) != 0)
        {
            line += " FLReset+";
        }
        else if (IsEndpoint(type))
        {
            line += " FLReset-";
        }

        if (type is Endpoint or Upstream or PcieToPciBridge)
        {
            line += " SlotPowerLimit " + PowerLimit((cap >> 18) & 0xff, (cap >> 26) & 3);
        }

        ctx.Line(line);

        ctx.Line($"\t\tDevCtl:\tCorrErr{F(ctl, 1)} NonFatalErr{F(ctl, 2)} FatalErr{F(ctl, 4)} UnsupReq{F(ctl, 8)}");
        line = $"\t\t\tRlxdOrd{F(ctl, 0x10)} ExtTag{F(ctl, 0x100)} PhantFunc{F(ctl, 0x200)} AuxPwr{F(ctl, 0x400)} NoSnoop{F(ctl, 0x800)}";
        if (type is PcieToPciBridge)
        {
            line += $" BrConfRtry{F(ctl, 0x8000)}";
        }

        if (IsEndpoint(type) && (cap & 0x10000000) != 0)
        {
            line += $" FLReset{F(ctl, 0x8000)}";
        }

        ctx.Line(line);
        ctx.Line($"\t\t\tMaxPayload {128 << (int)((ctl >> 5) & 7)} bytes, MaxReadReq {128 << (int)((ctl >> 12) & 7)} bytes");
        ctx.Line($"\t\tDevSta:\tCorrErr{F(sta, 1)} NonFatalErr{F(sta, 2)} FatalErr{F(sta, 4)} UnsupReq{F(sta, 8)} "
            + $"AuxPwr{F(sta, 0x10)} TransPend{F(sta, 0x20)}");
    }

    private static void WriteDevice2(LspciContext ctx, int where, int type)
    {
        ConfigView c = ctx.Config;
        uint cap = c.U32(where + 0x24);
        uint ctl = c.U16(where + 0x28);
        bool isPort = type is RootPort or Downstream;

        string line = $"\t\tDevCap2: Completion Timeout: {CompletionRanges(cap & 0xf)}, TimeoutDis{F(cap, 0x10)}";
        if (isPort)
        {
            line += $" ARIFwd{F(cap, 0x20)}";
        }

        ctx.Line(line + $" NROPrPrP{F(cap, 0x400)} LTR{F(cap, 0x800)}");
        line = $"\t\t\t 10BitTagComp{F(cap, 0x10000)} 10BitTagReq{F(cap, 0x20000)} OBFF {ObffCap((cap >> 18) & 3)}, "
            + $"ExtFmt{F(cap, 0x100000)} EETLPPrefix{F(cap, 0x200000)}";
        if ((cap & 0x200000) != 0)
        {
            uint max = (cap >> 22) & 3;
            line += $", MaxEETLPPrefixes {(max == 0 ? 4 : max)}";
        }

        ctx.Line(line);
        ctx.Line($"\t\t\t EmergencyPowerReduction {EmergencyPower((cap >> 24) & 3)}, EmergencyPowerReductionInit{F(cap, 0x4000000)}");
        line = $"\t\t\t FRS{F(cap, 0x80000000)}";
        if (type is RootPort)
        {
            line += $" LN System CLS {LnCls((cap >> 14) & 3)},";
        }

        if (type is RootPort or Endpoint)
        {
            line += ((cap >> 12) & 3) switch
            {
                0 => " TPHComp- ExtTPHComp-",
                1 => " TPHComp+ ExtTPHComp-",
                2 => " ",
                _ => " TPHComp+ ExtTPHComp+",
            };
        }

        if (type is RootPort)
        {
            line += $" ARIFwd{F(cap, 0x20)}";
        }

        ctx.Line(line);
        // pciutils 3.9 prints the AtomicOps capabilities only for a function that has a memory BAR.
        bool atomicLine = isPort || type is Upstream || BarDecoder.HasMemoryBar(c);
        if (atomicLine)
        {
            line = "\t\t\t AtomicOpsCap:";
            if (isPort || type is Upstream)
            {
                line += $" Routing{F(cap, 0x40)}";
            }

            if (IsEndpoint(type) || type is RootPort)
            {
                line += $" 32bit{F(cap, 0x80)} 64bit{F(cap, 0x100)} 128bitCAS{F(cap, 0x200)}";
            }

            ctx.Line(line);
        }

        line = $"\t\tDevCtl2: Completion Timeout: {CompletionValue(ctl & 0xf)}, TimeoutDis{F(ctl, 0x10)}";
        if (isPort)
        {
            line += $" ARIFwd{F(ctl, 0x20)}";
        }

        ctx.Line(line + $" LTR{F(ctl, 0x400)} 10BitTagReq{F(ctl, 0x1000)} OBFF {ObffCtl((ctl >> 13) & 3)},");
        line = $"\t\t\t AtomicOpsCtl: ReqEn{F(ctl, 0x40)}";
        if (isPort || type is Upstream)
        {
            line += $" EgressBlck{F(ctl, 0x80)}";
        }

        ctx.Line(line);
    }

    private static string PowerLimit(uint value, uint scale)
    {
        double watts;
        if (scale == 0 && value >= 0xf0)
        {
            if (value == 0xff)
            {
                return ">600W";
            }

            watts = 250 + ((value - 0xf0) * 25);
        }
        else
        {
            watts = value * scale switch { 0 => 1.0, 1 => 0.1, 2 => 0.01, _ => 0.001 };
        }

        return watts.ToString("0.#####", System.Globalization.CultureInfo.InvariantCulture) + "W";
    }

    private static string CompletionRanges(uint v) => v switch
    {
        0 => "Not Supported",
        1 => "Range A",
        2 => "Range B",
        3 => "Range AB",
        6 => "Range BC",
        7 => "Range ABC",
        0xe => "Range BCD",
        0xf => "Range ABCD",
        _ => "Unknown",
    };

    private static string CompletionValue(uint v) => v switch
    {
        0 => "50us to 50ms",
        1 => "50us to 100us",
        2 => "1ms to 10ms",
        5 => "16ms to 55ms",
        6 => "65ms to 210ms",
        9 => "260ms to 900ms",
        0xa => "1s to 3.5s",
        0xd => "4s to 13s",
        0xe => "17s to 64s",
        _ => "Unknown",
    };

    private static string ObffCap(uint v) => v switch
    {
        0 => "Not Supported",
        1 => "Via message",
        2 => "Via WAKE#",
        _ => "Via message/WAKE#",
    };

    private static string ObffCtl(uint v) => v switch
    {
        0 => "Disabled",
        1 => "Via message A",
        2 => "Via message B",
        _ => "Via WAKE#",
    };

    private static string EmergencyPower(uint v) => v switch
    {
        0 => "Not Supported",
        1 => "Dev Specific",
        2 => "Form Factor Dev Specific",
        _ => "Reserved",
    };

    private static string LnCls(uint v) => v switch
    {
        0 => "Not supported",
        1 => "64byte cachelines",
        2 => "128byte cachelines",
        _ => "Reserved",
    };

    private static char F(uint value, uint mask) => LspciContext.F(value, mask);
}
