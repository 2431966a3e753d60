using PciKit.Config;
using PciKit.Device;
using PciKit.Linux;
using PciKit.Memory;
using PciKit.VfioUser.Protocol;

namespace PciKit.VfioUser.Server;

/// <summary>
/// How a device's BARs, ROM and configuration space appear as vfio-user regions 0–8: sizes, access flags, and which
/// parts a client may mmap. A BAR region is mmap-able through the fd of its shareable memory regions; when the BAR
/// also holds trapped registers (or holes), the mmap-able parts are listed in a SPARSE_MMAP capability.
/// </summary>
internal sealed class RegionLayout
{
    private const ulong Page = 4096;
    private readonly Region[] _regions = new Region[VfioPciRegion.Count];

    public RegionLayout(PciDevice device)
    {
        for (int i = 0; i <= PciDevice.RomIndex; i++)
        {
            var bar = device.GetBar(i);
            if (bar is null) { _regions[i] = new Region(0, VfioRegionInfoFlags.None, null, 0, []); continue; }
            var flags = bar.Kind == PciBarKind.Rom ? VfioRegionInfoFlags.Read : VfioRegionInfoFlags.Read | VfioRegionInfoFlags.Write;
            _regions[i] = Mappable(bar, flags);
        }
        _regions[VfioPciRegion.Config] = new Region((ulong)device.Config.Size, VfioRegionInfoFlags.Read | VfioRegionInfoFlags.Write, null, 0, []);
        _regions[VfioPciRegion.Vga] = new Region(0, VfioRegionInfoFlags.None, null, 0, []);
    }

    public Region this[uint index] => _regions[index];

    private static Region Mappable(PciBar bar, VfioRegionInfoFlags flags)
    {
        if (bar.Kind == PciBarKind.Rom) return new Region(bar.Size, flags, null, 0, []);
        SafeFd? fd = null;
        ulong fileBase = 0;
        var areas = new List<SparseMmapArea>();
        foreach (var (offset, region) in bar.Regions)
        {
            if (region is not MemoryRegion { ReadOnly: false, Backing: IShareableMemory shareable }) continue;
            if (shareable.FileHandle is not SafeFd handle || shareable.FileOffset < offset) continue;
            if (offset % Page != 0 || region.Size % Page != 0) continue; // mmap needs whole pages
            ulong candidateBase = shareable.FileOffset - offset;
            if (fd is null) { fd = handle; fileBase = candidateBase; }
            else if (!ReferenceEquals(fd, handle) || fileBase != candidateBase) continue; // one fd per region
            areas.Add(new SparseMmapArea(offset, region.Size));
        }
        if (fd is null || fileBase % Page != 0) return new Region(bar.Size, flags, null, 0, []);
        bool whole = areas.Count == 1 && areas[0].Offset == 0 && areas[0].Size == bar.Size;
        return new Region(bar.Size, flags | VfioRegionInfoFlags.Mmap, fd, fileBase, whole ? [] : [.. areas]);
    }

    /// <summary>One region: size, flags, the fd to mmap (if any) at <paramref name="FileOffset"/>, and its sparse areas.</summary>
    internal sealed record Region(ulong Size, VfioRegionInfoFlags Flags, SafeFd? Fd, ulong FileOffset, SparseMmapArea[] SparseAreas);
}
