namespace PciKit.Inspection;

/// <summary>MSI (ID 0x05) and MSI-X (ID 0x11) capabilities.</summary>
internal static class MsiDecoder
{
    internal static void WriteMsi(LspciContext ctx, int where, ushort ctl)
    {
        bool is64 = (ctl & 0x80) != 0, maskable = (ctl & 0x100) != 0;
        ctx.Line($"MSI: Enable{F(ctl, 1)} Count={1 << ((ctl >> 4) & 7)}/{1 << ((ctl >> 1) & 7)} "
            + $"Maskable{F(ctl, 0x100)} 64bit{F(ctl, 0x80)}");
        if (ctx.Verbosity < 2)
        {
            return;
        }

        ConfigView c = ctx.Config;
        uint lo = c.U32(where + 4);
        int dataAt = where + (is64 ? 12 : 8);
        string address = is64 ? $"{c.U32(where + 8):x8}{lo:x8}" : $"{lo:x8}";
        ctx.Line($"\t\tAddress: {address}  Data: {c.U16(dataAt):x4}");
        if (maskable)
        {
            int maskAt = where + (is64 ? 0x10 : 0x0c);
            ctx.Line($"\t\tMasking: {c.U32(maskAt):x8}  Pending: {c.U32(maskAt + 4):x8}");
        }
    }

    internal static void WriteMsiX(LspciContext ctx, int where, ushort ctl)
    {
        ctx.Line($"MSI-X: Enable{F(ctl, 0x8000)} Count={(ctl & 0x7ff) + 1} Masked{F(ctl, 0x4000)}");
        if (ctx.Verbosity < 2)
        {
            return;
        }

        uint table = ctx.Config.U32(where + 4), pba = ctx.Config.U32(where + 8);
        ctx.Line($"\t\tVector table: BAR={table & 7} offset={table & ~7u:x8}");
        ctx.Line($"\t\tPBA: BAR={pba & 7} offset={pba & ~7u:x8}");
    }

    private static char F(uint value, uint mask) => LspciContext.F(value, mask);
}
