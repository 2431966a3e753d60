namespace PciKit.Inspection;

/// <summary>
/// Renders a PCI configuration space the way <c>lspci</c> (pciutils 3.9) prints it: the summary line,
/// the <c>-v</c>/<c>-vv</c>/<c>-vvv</c> details and the <c>-x</c>/<c>-xxx</c>/<c>-xxxx</c> hex dump.
/// Works on bytes only; it never touches the OS.
/// </summary>
public static class LspciFormatter
{
    /// <summary>Formats one device.</summary>
    /// <param name="config">Configuration space, normally 256 or 4096 bytes; missing bytes read as 0xff.</param>
    /// <param name="options">What to print.</param>
    /// <returns>The text, each line ending in <c>\n</c>; a blank line ends the device when details or a dump were printed.</returns>
    /// <exception cref="ArgumentOutOfRangeException">Verbosity or HexLevel is outside 0..3.</exception>
    public static string Format(ReadOnlySpan<byte> config, LspciOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.Verbosity);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.Verbosity, 3);
        ArgumentOutOfRangeException.ThrowIfNegative(options.HexLevel);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.HexLevel, 3);

        var ctx = new LspciContext(new ConfigView(config), options);
        ctx.Line(Summary(ctx, options.Verbosity > 0));
        if (options.Verbosity > 0)
        {
            HeaderDecoder.Write(ctx);
            CapabilityDecoder.Write(ctx);
            if (options.KernelDriver is not null)
            {
                ctx.Line($"\tKernel driver in use: {options.KernelDriver}");
            }
        }

        if (options.HexLevel > 0)
        {
            HexDump.Write(ctx);
        }

        if (options.Verbosity > 0 || options.HexLevel > 0)
        {
            ctx.Out.Append('\n');
        }

        return ctx.Out.ToString();
    }

    private static string Summary(LspciContext ctx, bool verbose)
    {
        ConfigView c = ctx.Config;
        PciIdDatabase? db = ctx.Options.Names;
        bool numeric = ctx.Options.NumericIds;
        byte progIf = c.U8(0x09), sub = c.U8(0x0a), cls = c.U8(0x0b), rev = c.U8(0x08);
        string text = $"{ctx.Options.Slot} {LspciNames.ClassText(db, cls, sub, numeric)}: "
            + LspciNames.DeviceText(db, ctx.Vendor, ctx.Device, numeric);
        if (rev != 0)
        {
            text += $" (rev {rev:x2})";
        }

        if (verbose)
        {
            text += LspciNames.ProgIfText(db, cls, sub, progIf);
        }

        return text;
    }
}
