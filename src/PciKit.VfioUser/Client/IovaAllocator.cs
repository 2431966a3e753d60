namespace PciKit.VfioUser.Client;

/// <summary>
/// First-fit allocator of page-aligned device (IO virtual) addresses below a limit, the same scheme as the in-process
/// host's <c>HostMemory</c>. Not thread-safe: the client calls it under its request lock.
/// </summary>
internal sealed class IovaAllocator(ulong firstAddress)
{
    public const ulong Page = 4096;
    private readonly SortedDictionary<ulong, ulong> _allocated = new(); // start → page-rounded length

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

    public void Free(ulong address) => _allocated.Remove(address);

    public void Clear() => _allocated.Clear();

    public static ulong RoundUp(ulong length) => length > ulong.MaxValue - (Page - 1) ? 0 : (length + Page - 1) & ~(Page - 1);
}
