namespace PciKit.Inspection;

/// <summary>Power Management capability (ID 0x01).</summary>
internal static class PowerManagementDecoder
{
    private static readonly int[] AuxCurrent = [0, 55, 100, 160, 220, 270, 320, 375];

    internal static void Write(LspciContext ctx, int where, ushort pmc)
    {
        ctx.Line($"Power Management version {pmc & 7}");
        if (ctx.Verbosity < 2)
        {
            return;
        }

        ushort csr = ctx.Config.U16(where + 4);
        byte bse = ctx.Config.U8(where + 6);
        ctx.Line($"\t\tFlags: PMEClk{F(pmc, 0x8)} DSI{F(pmc, 0x20)} D1{F(pmc, 0x200)} D2{F(pmc, 0x400)} "
            + $"AuxCurrent={AuxCurrent[(pmc >> 6) & 7]}mA "
            + $"PME(D0{F(pmc, 0x800)},D1{F(pmc, 0x1000)},D2{F(pmc, 0x2000)},D3hot{F(pmc, 0x4000)},D3cold{F(pmc, 0x8000)})");
        ctx.Line($"\t\tStatus: D{csr & 3} NoSoftRst{F(csr, 0x8)} PME-Enable{F(csr, 0x100)} "
            + $"DSel={(csr >> 9) & 0xf} DScale={(csr >> 13) & 3} PME{F(csr, 0x8000)}");
        if (bse != 0)
        {
            // Bit 6 clear means B3 on entry to D3hot.
            ctx.Line($"\t\tBridge: PM{F(bse, 0x80)} B3{((bse & 0x40) != 0 ? '-' : '+')}");
        }
    }

    private static char F(uint value, uint mask) => LspciContext.F(value, mask);
}
