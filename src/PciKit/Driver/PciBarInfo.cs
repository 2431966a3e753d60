using PciKit.Config;

namespace PciKit.Driver;

/// <summary>What <see cref="PciFunction.GetBarInfo"/> reports about a BAR (PCIDriverKit's GetBARInfo).</summary>
/// <param name="Index">BAR index 0–5, or 6 for the expansion ROM.</param>
/// <param name="Kind">I/O, 32-bit or 64-bit memory, ROM, or None.</param>
/// <param name="Size">Size in bytes (0 when not implemented).</param>
/// <param name="Prefetchable">Prefetchable memory.</param>
/// <param name="Address">The base address currently programmed.</param>
public readonly record struct PciBarInfo(int Index, PciBarKind Kind, ulong Size, bool Prefetchable, ulong Address)
{
    /// <summary>True when the BAR exists.</summary>
    public bool IsImplemented => Kind != PciBarKind.None && Size != 0;
}
