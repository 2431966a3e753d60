namespace PciKit.Inspection;

/// <summary>
/// What <see cref="LspciFormatter"/> prints, mirroring the options of <c>lspci</c>.
/// </summary>
public sealed record LspciOptions
{
    /// <summary>Slot printed at the start of the summary line, in <c>BB:DD.F</c> form (lspci's default domain is omitted).</summary>
    public string Slot { get; init; } = "00:00.0";

    /// <summary>Detail level: 0 = summary only, 1 = <c>-v</c>, 2 = <c>-vv</c>, 3 = <c>-vvv</c>.</summary>
    public int Verbosity { get; init; }

    /// <summary>Hex dump: 0 = none, 1 = <c>-x</c> (64 bytes), 2 = <c>-xxx</c> (256 bytes), 3 = <c>-xxxx</c> (4096 bytes).</summary>
    public int HexLevel { get; init; }

    /// <summary>Print numeric IDs next to names, like <c>lspci -nn</c>.</summary>
    public bool NumericIds { get; init; }

    /// <summary>
    /// Optional resources as the OS reports them (sysfs <c>resource</c> order): index 0..5 are the BARs,
    /// index 6 the expansion ROM. When present, sizes are printed as <c>[size=1M]</c> and the base
    /// address is taken from here instead of the raw BAR.
    /// </summary>
    public IReadOnlyList<LspciRegion>? Regions { get; init; }

    /// <summary>Vendor, device and class names; when null, only a built-in table of class names is used.</summary>
    public PciIdDatabase? Names { get; init; }

    /// <summary>Name of the bound kernel driver, printed as <c>Kernel driver in use:</c> at verbosity 1 and above.</summary>
    public string? KernelDriver { get; init; }

    /// <summary>IRQ number as the OS routes it; when null the Interrupt Line register (0x3c) is printed.</summary>
    public int? Irq { get; init; }
}
