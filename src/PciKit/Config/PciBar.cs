using System.Numerics;
using PciKit.Device;

namespace PciKit.Config;

/// <summary>What a base address register decodes.</summary>
public enum PciBarKind
{
    /// <summary>Not implemented: the register reads 0.</summary>
    None = 0,
    /// <summary>32-bit memory space.</summary>
    Memory32,
    /// <summary>64-bit memory space (takes two BAR slots).</summary>
    Memory64,
    /// <summary>I/O space.</summary>
    Io,
    /// <summary>Expansion ROM (the register at 0x30).</summary>
    Rom,
}

/// <summary>
/// A base address register as data: kind, size, prefetchability, and the regions (registers with handlers,
/// or plain memory) that live inside it at fixed offsets.
/// </summary>
public sealed class PciBar
{
    /// <summary>Smallest memory BAR the PCI specification allows.</summary>
    public const ulong MinMemorySize = 16;
    /// <summary>Smallest I/O BAR.</summary>
    public const ulong MinIoSize = 4;
    /// <summary>Largest I/O BAR (PCI 3.0: at most 256 bytes).</summary>
    public const ulong MaxIoSize = 256;
    /// <summary>Smallest expansion ROM.</summary>
    public const ulong MinRomSize = 2048;
    /// <summary>Largest expansion ROM (16 MiB).</summary>
    public const ulong MaxRomSize = 16 * 1024 * 1024;

    private (ulong Offset, BarRegion Region)[] _regions = [];

    private PciBar(PciBarKind kind, ulong size, bool prefetchable)
    {
        Kind = kind;
        Size = size;
        Prefetchable = prefetchable;
    }

    /// <summary>32-bit memory BAR of <paramref name="size"/> bytes (a power of two, 16 B – 2 GiB).</summary>
    public static PciBar Memory32(ulong size, bool prefetchable = false)
    {
        CheckSize(size, MinMemorySize, 1UL << 31, "32-bit memory BAR", "use Memory64 for more than 2 GiB");
        return new PciBar(PciBarKind.Memory32, size, prefetchable);
    }

    /// <summary>64-bit memory BAR of <paramref name="size"/> bytes (a power of two, at least 16 B); it occupies two BAR slots.</summary>
    public static PciBar Memory64(ulong size, bool prefetchable = false)
    {
        CheckSize(size, MinMemorySize, 1UL << 63, "64-bit memory BAR", "");
        return new PciBar(PciBarKind.Memory64, size, prefetchable);
    }

    /// <summary>I/O BAR of <paramref name="size"/> bytes (a power of two, 4–256).</summary>
    public static PciBar Io(ulong size)
    {
        CheckSize(size, MinIoSize, MaxIoSize, "I/O BAR", "use a memory BAR for larger register files");
        return new PciBar(PciBarKind.Io, size, false);
    }

    /// <summary>Expansion ROM of <paramref name="size"/> bytes (a power of two, 2 KiB – 16 MiB) holding <paramref name="image"/>.</summary>
    public static PciBar Rom(ulong size, ReadOnlySpan<byte> image)
    {
        CheckSize(size, MinRomSize, MaxRomSize, "expansion ROM", "");
        if ((ulong)image.Length > size)
            throw new PciDefinitionException($"The ROM image is {image.Length} bytes but the ROM BAR is only {size}; make the BAR at least {BitOperations.RoundUpToPowerOf2((ulong)image.Length)} bytes.");
        var bar = new PciBar(PciBarKind.Rom, size, false);
        var block = new Memory.NativeMemoryBlock(size);
        block.CopyFrom(0, image);
        bar.Add(0, new MemoryRegion("rom", block, readOnly: true));
        return bar;
    }

    /// <summary>Kind of the BAR.</summary>
    public PciBarKind Kind { get; }
    /// <summary>Size in bytes (a power of two).</summary>
    public ulong Size { get; }
    /// <summary>Prefetchable memory.</summary>
    public bool Prefetchable { get; }
    /// <summary>True for 32- and 64-bit memory BARs.</summary>
    public bool IsMemory => Kind is PciBarKind.Memory32 or PciBarKind.Memory64;

    /// <summary>The regions inside the BAR, sorted by offset.</summary>
    public IReadOnlyList<(ulong Offset, BarRegion Region)> Regions => _regions;

    /// <summary>Places <paramref name="region"/> at <paramref name="offset"/>; regions may not overlap or leave the BAR.</summary>
    public PciBar Add(ulong offset, BarRegion region)
    {
        ArgumentNullException.ThrowIfNull(region);
        if (offset > Size || region.Size > Size - offset)
            throw new PciDefinitionException($"Region '{region.Name}' at 0x{offset:x} (+0x{region.Size:x}) does not fit in this 0x{Size:x}-byte BAR; enlarge the BAR or move the region.");
        foreach (var (o, r) in _regions)
        {
            if (offset < o + r.Size && o < offset + region.Size)
                throw new PciDefinitionException($"Region '{region.Name}' at 0x{offset:x} (+0x{region.Size:x}) overlaps region '{r.Name}' at 0x{o:x} (+0x{r.Size:x}).");
        }
        var list = new List<(ulong, BarRegion)>(_regions) { (offset, region) };
        list.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        _regions = [.. list];
        return this;
    }

    /// <summary>Finds the region that holds the whole access [<paramref name="offset"/>, +<paramref name="size"/>).</summary>
    internal bool TryFind(ulong offset, int size, out BarRegion region, out ulong regionOffset)
    {
        var regions = _regions;
        for (int i = 0; i < regions.Length; i++)
        {
            var (o, r) = regions[i];
            if (offset >= o && offset - o < r.Size)
            {
                regionOffset = offset - o;
                region = r;
                return (ulong)size <= r.Size - regionOffset;
            }
        }
        region = null!;
        regionOffset = 0;
        return false;
    }

    /// <summary>The mask of address bits the BAR decodes (what the all-ones sizing probe reads back, without type bits).</summary>
    internal ulong AddressMask => Kind switch
    {
        PciBarKind.Io => ~(Size - 1) & 0xFFFF_FFFC,
        PciBarKind.Memory32 => ~(Size - 1) & 0xFFFF_FFF0,
        PciBarKind.Rom => ~(Size - 1) & 0xFFFF_F800,
        PciBarKind.Memory64 => ~(Size - 1) & ~0xFUL,
        _ => 0,
    };

    /// <summary>The read-only type bits of the low register.</summary>
    internal uint TypeBits => Kind switch
    {
        PciBarKind.Io => 0x1,
        PciBarKind.Memory32 => Prefetchable ? 0x8u : 0x0u,
        PciBarKind.Memory64 => 0x4u | (Prefetchable ? 0x8u : 0x0u),
        _ => 0,
    };

    private static void CheckSize(ulong size, ulong min, ulong max, string what, string hint)
    {
        if (size < min)
            throw new PciDefinitionException($"A {what} must be at least {min} bytes; {size} is too small (use {min}).");
        if (!BitOperations.IsPow2(size))
            throw new PciDefinitionException($"A {what} must be a power of two in size; {size} is not (round up to {BitOperations.RoundUpToPowerOf2(size)}).");
        if (size > max)
            throw new PciDefinitionException($"A {what} must be between {min} and {max} bytes; {size} is too large{(hint.Length > 0 ? "; " + hint : "")}.");
    }
}
