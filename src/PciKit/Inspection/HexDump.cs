using System.Text;

namespace PciKit.Inspection;

/// <summary>Hex rows in the format <c>lspci -x</c> prints and <c>lspci -F</c> reads back.</summary>
internal static class HexDump
{
    internal static void Write(LspciContext ctx)
    {
        int count = ctx.Options.HexLevel switch
        {
            1 => ctx.HeaderType == 2 ? 128 : 64,
            2 => 256,
            _ => ctx.Config.HasExtendedSpace ? ConfigView.ExtendedSize : 256,
        };
        WriteRows(ctx.Out, ctx.Config.Bytes(count));
    }

    internal static void WriteRows(StringBuilder sb, ReadOnlySpan<byte> bytes)
    {
        for (int row = 0; row < bytes.Length; row += 16)
        {
            sb.Append($"{row:x2}:");
            for (int i = row; i < Math.Min(row + 16, bytes.Length); i++)
            {
                sb.Append($" {bytes[i]:x2}");
            }

            sb.Append('\n');
        }
    }
}
