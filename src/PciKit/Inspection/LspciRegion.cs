namespace PciKit.Inspection;

/// <summary>Kind of address space a <see cref="LspciRegion"/> decodes.</summary>
public enum LspciRegionKind
{
    /// <summary>Memory space (including expansion ROM).</summary>
    Memory,

    /// <summary>I/O port space.</summary>
    Io,
}

/// <summary>
/// A resource the OS assigned to a BAR or ROM (as in sysfs <c>resource</c>), used to print sizes.
/// A region with <see cref="Size"/> 0 is treated as absent.
/// </summary>
/// <param name="BaseAddress">Start address the OS reports.</param>
/// <param name="Size">Length in bytes.</param>
/// <param name="Kind">Address space; only used when the BAR register itself reads zero (a virtual BAR).</param>
public readonly record struct LspciRegion(ulong BaseAddress, ulong Size, LspciRegionKind Kind = LspciRegionKind.Memory);
