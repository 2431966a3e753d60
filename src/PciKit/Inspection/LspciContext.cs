using System.Text;

namespace PciKit.Inspection;

/// <summary>State shared by the decoders while one device is formatted.</summary>
internal sealed class LspciContext(ConfigView config, LspciOptions options)
{
    internal ConfigView Config { get; } = config;

    internal LspciOptions Options { get; } = options;

    internal StringBuilder Out { get; } = new();

    internal int Verbosity => Options.Verbosity;

    internal ushort Vendor => Config.U16(0x00);

    internal ushort Device => Config.U16(0x02);

    internal ushort Command => Config.U16(0x04);

    internal ushort Status => Config.U16(0x06);

    internal byte HeaderType => (byte)(Config.U8(0x0e) & 0x7f);

    /// <summary>'+' when any bit of <paramref name="mask"/> is set in <paramref name="value"/>, else '-'.</summary>
    internal static char F(uint value, uint mask) => (value & mask) != 0 ? '+' : '-';

    internal void Line(string text) => Out.Append(text).Append('\n');
}
