namespace PciKit.Inspection;

/// <summary>Vendor Specific capability (ID 0x09), with the virtio layout lspci knows.</summary>
internal static class VendorCapabilityDecoder
{
    private static readonly string[] VirtioTypes = ["<unknown>", "CommonCfg", "Notify", "ISR", "DeviceCfg"];

    internal static void Write(LspciContext ctx, int where)
    {
        ConfigView c = ctx.Config;
        byte len = c.U8(where + 2);
        string text = "Vendor Specific Information: ";
        bool isVirtio = ctx.Vendor == 0x1af4 && ctx.Device >= 0x1000 && ctx.Device <= 0x107f && len >= 16;
        if (!isVirtio)
        {
            ctx.Line(text + $"Len={len:x2} <?>");
            return;
        }

        byte type = c.U8(where + 3);
        ctx.Line(text + "VirtIO: " + (type < VirtioTypes.Length ? VirtioTypes[type] : VirtioTypes[0]));
        if (ctx.Verbosity < 2)
        {
            return;
        }

        string details = $"\t\tBAR={c.U8(where + 4)} offset={c.U32(where + 8):x8} size={c.U32(where + 12):x8}";
        if (type == 2 && len >= 20)
        {
            details += $" multiplier={c.U32(where + 16):x8}";
        }

        ctx.Line(details);
    }
}
