namespace PciKit.Inspection;

/// <summary>PCI Express link registers (LnkCap/LnkCtl/LnkSta and their "2" versions).</summary>
internal static partial class ExpressDecoder
{
    private static readonly string[] L0sLinkLatency = ["<64ns", "<128ns", "<256ns", "<512ns", "<1us", "<2us", "<4us", "unlimited"];
    private static readonly string[] L1LinkLatency = ["<1us", "<2us", "<4us", "<8us", "<16us", "<32us", "<64us", "unlimited"];
    private static readonly string[] AspmSupport = ["not supported", "L0s", "L1", "L0s L1"];
    private static readonly string[] AspmControl = ["Disabled", "L0s Enabled", "L1 Enabled", "L0s L1 Enabled"];

    private static readonly string[] Presets =
    [
        "-6dB de-emphasis, 0dB preshoot",
        "-3.5dB de-emphasis, 0dB preshoot",
        "-4.4dB de-emphasis, 0dB preshoot",
        "-2.5dB de-emphasis, 0dB preshoot",
        "0dB de-emphasis, 0dB preshoot",
        "0dB de-emphasis, 1.9dB preshoot",
        "0dB de-emphasis, 2.5dB preshoot",
        "-6.0dB de-emphasis, 3.5dB preshoot",
        "-3.5dB de-emphasis, 3.5dB preshoot",
        "0dB de-emphasis, 3.5dB preshoot",
    ];

    private static string Speed(uint code) => code switch
    {
        1 => "2.5GT/s",
        2 => "5GT/s",
        3 => "8GT/s",
        4 => "16GT/s",
        5 => "32GT/s",
        6 => "64GT/s",
        _ => "unknown",
    };

    private static string Compare(uint status, uint capability)
        => status < capability ? " (downgraded)" : status > capability ? " (overdriven)" : string.Empty;

    private static void WriteLink(LspciContext ctx, int where, int type)
    {
        ConfigView c = ctx.Config;
        uint cap = c.U32(where + 0x0c);
        uint ctl = c.U16(where + 0x10);
        uint sta = c.U16(where + 0x12);
        uint aspm = (cap >> 10) & 3;

        string line = $"\t\tLnkCap:\tPort #{cap >> 24}, Speed {Speed(cap & 0xf)}, Width x{(cap >> 4) & 0x3f}, ASPM {AspmSupport[aspm]}";
        if (aspm != 0)
        {
            line += ", Exit Latency ";
            if ((aspm & 1) != 0)
            {
                line += $"L0s {L0sLinkLatency[(cap >> 12) & 7]}";
            }

            if (aspm == 3)
            {
                line += ", ";
            }

            if ((aspm & 2) != 0)
            {
                line += $"L1 {L1LinkLatency[(cap >> 15) & 7]}";
            }
        }

        ctx.Line(line);
        ctx.Line($"\t\t\tClockPM{F(cap, 0x40000)} Surprise{F(cap, 0x80000)} LLActRep{F(cap, 0x100000)} "
            + $"BwNot{F(cap, 0x200000)} ASPMOptComp{F(cap, 0x400000)}");

        line = $"\t\tLnkCtl:\tASPM {AspmControl[ctl & 3]};";
        if (type is RootPort or Endpoint or LegacyEndpoint or PciToPcieBridge)
        {
            line += $" RCB {((ctl & 8) != 0 ? 128 : 64)} bytes,";
        }

        line += $" Disabled{F(ctl, 0x10)} CommClk{F(ctl, 0x40)}";
        if (type is RootPort or Downstream or PciToPcieBridge)
        {
            line += $" Retrain{F(ctl, 0x20)}";
        }

        ctx.Line(line);
        ctx.Line($"\t\t\tExtSynch{F(ctl, 0x80)} ClockPM{F(ctl, 0x100)} AutWidDis{F(ctl, 0x200)} BWInt{F(ctl, 0x400)} AutBWInt{F(ctl, 0x800)}");

        ctx.Line($"\t\tLnkSta:\tSpeed {Speed(sta & 0xf)}{Compare(sta & 0xf, cap & 0xf)}, "
            + $"Width x{(sta >> 4) & 0x3f}{Compare((sta >> 4) & 0x3f, (cap >> 4) & 0x3f)}");
        ctx.Line($"\t\t\tTrErr{F(sta, 0x400)} Train{F(sta, 0x800)} SlotClk{F(sta, 0x1000)} DLActive{F(sta, 0x2000)} "
            + $"BWMgmt{F(sta, 0x4000)} ABWMgmt{F(sta, 0x8000)}");
    }

    private static void WriteLink2(LspciContext ctx, int where, int type)
    {
        ConfigView c = ctx.Config;
        uint cap = c.U32(where + 0x2c);
        uint ctl = c.U16(where + 0x30);
        uint sta = c.U16(where + 0x32);

        // lspci shows LnkCap2/LnkCtl2 of an endpoint only on function 0 of device 0, the one that owns the link.
        bool ownsLink = !(type is Endpoint or LegacyEndpoint) || IsFirstFunction(ctx.Options.Slot);
        if (ownsLink)
        {
            if (cap != 0)
            {
                ctx.Line($"\t\tLnkCap2: Supported Link Speeds: {SpeedVector((cap >> 1) & 0x7f)}, Crosslink{F(cap, 0x100)} "
                    + $"Retimer{F(cap, 0x800000)} 2Retimers{F(cap, 0x1000000)} DRS{F(cap, 0x80000000)}");
            }

            string line = $"\t\tLnkCtl2: Target Link Speed: {TargetSpeed(ctl & 0xf)}, EnterCompliance{F(ctl, 0x10)} SpeedDis{F(ctl, 0x20)}";
            if (type is Downstream)
            {
                line += $", Selectable De-emphasis: {((ctl & 0x40) != 0 ? "-3.5dB" : "-6dB")}";
            }

            ctx.Line(line);
            ctx.Line($"\t\t\t Transmit Margin: {Margin((ctl >> 7) & 7)}, EnterModifiedCompliance{F(ctl, 0x400)} ComplianceSOS{F(ctl, 0x800)}");
            uint preset = (ctl >> 12) & 0xf;
            ctx.Line($"\t\t\t Compliance Preset/De-emphasis: {(preset < Presets.Length ? Presets[preset] : "Unknown")}");
        }

        ctx.Line($"\t\tLnkSta2: Current De-emphasis Level: {((sta & 1) != 0 ? "-3.5dB" : "-6dB")}, "
            + $"EqualizationComplete{F(sta, 0x2)} EqualizationPhase1{F(sta, 0x4)}");
        ctx.Line($"\t\t\t EqualizationPhase2{F(sta, 0x8)} EqualizationPhase3{F(sta, 0x10)} LinkEqualizationRequest{F(sta, 0x20)}");
        ctx.Line($"\t\t\t Retimer{F(sta, 0x40)} 2Retimers{F(sta, 0x80)} CrosslinkRes: {Crosslink((sta >> 8) & 3)}");
    }

    /// <summary>True when a <c>[DDDD:]BB:DD.F</c> slot names device 0, function 0.</summary>
    private static bool IsFirstFunction(string slot)
    {
        int colon = slot.LastIndexOf(':');
        ReadOnlySpan<char> devFn = slot.AsSpan(colon + 1);
        return devFn.Length >= 3 && devFn.Trim().SequenceEqual("00.0");
    }

    // pciutils 3.9 reads a zero target speed as 2.5GT/s.
    private static string TargetSpeed(uint code) => code switch
    {
        0 => Speed(1),
        <= 6 => Speed(code),
        _ => "Unknown",
    };

    private static string SpeedVector(uint vector)
    {
        if (vector == 0)
        {
            return "Unknown";
        }

        int highest = 31 - System.Numerics.BitOperations.LeadingZeroCount(vector);
        return highest switch
        {
            0 => "2.5GT/s",
            >= 5 => "RsvdP",
            _ => "2.5-" + Speed((uint)highest + 1),
        };
    }

    // pciutils 3.9 prints the 200-400mV text for every value from 2 to 5.
    private static string Margin(uint v) => v switch
    {
        0 => "Normal Operating Range",
        1 => "800-1200mV(full-swing)/400-700mV(half-swing)",
        <= 5 => "200-400mV(full-swing)/100-200mV(half-swing)",
        _ => "Unknown",
    };

    private static string Crosslink(uint v) => v switch
    {
        0 => "unsupported",
        1 => "Upstream Port",
        2 => "Downstream Port",
        _ => "incomplete",
    };
}
