namespace PciKit.Memory;

/// <summary>
/// First-fit allocator of page-aligned device-visible (IO virtual) addresses below a limit — how a host (the in-process
/// bus, a vfio-user client) chooses where its DMA buffers appear to a device. Not thread-safe: callers serialise.
/// </summary>
public sealed class IovaAllocator(ulong firstAddress)
{
    /// <summary>Granularity of allocations.</summary>
    public const ulong Page = 4096;
    private readonly SortedDictionary<ulong, ulong> _allocated = new(); // start → page-rounded length

    /// <summary>Live allocations.</summary>
    public int Count => _allocated.Count;

    /// <summary>Reserves <paramref name="length"/> (page-rounded) bytes ending below 2^<paramref name="addressBits"/>, or null.</summary>
    public ulong? Allocate(ulong length, int addressBits)
    {
        ulong rounded = RoundUp(length);
        ulong limit = addressBits >= 64 ? ulong.MaxValue : (1UL << addressBits) - 1;
        ulong cursor = firstAddress;
        foreach (var (start, len) in _allocated)
        {
            if (start >= cursor && start - cursor >= rounded) break;
            cursor = Math.Max(cursor, start + len);
        }
        if (rounded == 0 || cursor + rounded - 1 < cursor || cursor + rounded - 1 > limit) return null;
        _allocated.Add(cursor, rounded);
        return cursor;
    }

    /// <summary>Releases the allocation that starts at <paramref name="address"/>.</summary>
    public void Free(ulong address) => _allocated.Remove(address);

    /// <summary>Releases every allocation.</summary>
    public void Clear() => _allocated.Clear();

    /// <summary><paramref name="length"/> rounded up to whole pages (0 when that overflows).</summary>
    public static ulong RoundUp(ulong length) => length > ulong.MaxValue - (Page - 1) ? 0 : (length + Page - 1) & ~(Page - 1);
}
