namespace PciKit.Inspection;

/// <summary>Region (BAR) and expansion ROM lines.</summary>
internal static class BarDecoder
{
    private static readonly string[] MemTypes = ["32-bit", "low-1M", "64-bit", "type 3"];

    internal static void WriteBars(LspciContext ctx, int count)
    {
        ConfigView c = ctx.Config;
        uint cmd = ctx.Command;
        Span<ulong> raw = stackalloc ulong[6];
        ComputeBases(c, count, raw);

        for (int i = 0; i < count; i++)
        {
            uint flg = c.U32(0x10 + (4 * i));
            if (flg == 0xffffffff)
            {
                flg = 0;
            }

            LspciRegion? region = RegionAt(ctx, i);
            ulong pos = region?.BaseAddress ?? raw[i];
            ulong len = region?.Size ?? 0;
            if (pos == 0 && flg == 0 && len == 0)
            {
                continue;
            }

            bool isVirtual = flg == 0 && region is not null;
            bool isIo = isVirtual ? region!.Value.Kind == LspciRegionKind.Io : (flg & 1) != 0;
            string text = ctx.Verbosity > 1 ? $"\tRegion {i}: " : "\t";
            if (isIo)
            {
                ulong a = pos & ~3UL;
                text += "I/O ports at " + (a != 0 || (cmd & 1) != 0 ? $"{a:x4}" : "<unassigned>");
                text += isVirtual ? " [virtual]" : (cmd & 1) == 0 ? " [disabled]" : string.Empty;
            }
            else
            {
                ulong a = pos & ~0xfUL;
                text += "Memory at " + (a != 0 ? $"{a:x8}" : "<unassigned>");
                text += $" ({MemTypes[(flg >> 1) & 3]}, {((flg & 8) != 0 ? "prefetchable" : "non-prefetchable")})";
                text += isVirtual ? " [virtual]" : (cmd & 2) == 0 ? " [disabled]" : string.Empty;
            }

            ctx.Line(text + SizeText(len));
        }
    }

    internal static void WriteRom(LspciContext ctx, int offset)
    {
        uint rom = ctx.Config.U32(offset);
        if (rom == 0xffffffff)
        {
            rom = 0;
        }

        LspciRegion? region = RegionAt(ctx, 6);
        ulong pos = region?.BaseAddress ?? rom;
        ulong len = region?.Size ?? 0;
        if (pos == 0 && rom == 0 && len == 0)
        {
            return;
        }

        ulong a = pos & ~0x7ffUL;
        string text = "\tExpansion ROM at " + (a != 0 ? $"{a:x8}" : (rom & ~0x7ffu) != 0 ? "<ignored>" : "<unassigned>");
        if (rom == 0 && region is not null)
        {
            text += " [virtual]";
        }

        if ((rom & 1) == 0)
        {
            text += " [disabled]";
        }
        else if ((ctx.Command & 2) == 0)
        {
            text += " [disabled by cmd]";
        }

        ctx.Line(text + SizeText(len));
    }

    /// <summary>True when any of the six type-0 BARs decodes memory (lspci prints AtomicOpsCap only then).</summary>
    internal static bool HasMemoryBar(ConfigView c)
    {
        Span<ulong> raw = stackalloc ulong[6];
        ComputeBases(c, 6, raw);
        foreach (ulong bar in raw)
        {
            if (bar != 0 && (bar & 1) == 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>lspci's size suffix: the largest unit (K, M, G, T) that divides the size exactly.</summary>
    internal static string SizeText(ulong size)
    {
        if (size == 0)
        {
            return string.Empty;
        }

        string[] suffixes = [string.Empty, "K", "M", "G", "T"];
        int unit = 0;
        while (unit < suffixes.Length - 1 && size % 1024 == 0)
        {
            size /= 1024;
            unit++;
        }

        return $" [size={(uint)size}{suffixes[unit]}]";
    }

    private static LspciRegion? RegionAt(LspciContext ctx, int index)
    {
        IReadOnlyList<LspciRegion>? regions = ctx.Options.Regions;
        if (regions is null || index >= regions.Count)
        {
            return null;
        }

        LspciRegion r = regions[index];
        return r.Size == 0 && r.BaseAddress == 0 ? null : r;
    }

    /// <summary>Base addresses with flag bits, the upper half of a 64-bit BAR folded into its lower slot.</summary>
    private static void ComputeBases(ConfigView c, int count, Span<ulong> bases)
    {
        for (int i = 0; i < count; i++)
        {
            uint x = c.U32(0x10 + (4 * i));
            if (x == 0 || x == 0xffffffff)
            {
                continue;
            }

            if ((x & 1) != 0 || (x & 6) != 4)
            {
                bases[i] = x;
            }
            else if (i < count - 1)
            {
                i++;
                bases[i - 1] = x | ((ulong)c.U32(0x10 + (4 * i)) << 32);
            }
        }
    }
}
