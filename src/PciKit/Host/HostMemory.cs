using PciKit.Memory;

namespace PciKit.Host;

/// <summary>
/// The in-process host's RAM as devices see it: DMA buffers allocated from the process heap and mapped into one
/// <see cref="DmaAddressSpace"/> at page-aligned bus addresses (no IOMMU: every device on the bus sees every buffer,
/// as on a PC without one).
/// </summary>
public sealed class HostMemory : IDisposable
{
    private const ulong Page = 4096;
    private readonly Lock _lock = new();
    private readonly SortedDictionary<ulong, ulong> _allocated = new(); // start → length (page-rounded)

    /// <summary>Creates host memory whose bus addresses start at <paramref name="firstAddress"/>.</summary>
    public HostMemory(ulong firstAddress = 0x10_0000)
    {
        if (firstAddress == 0 || firstAddress % Page != 0) throw new ArgumentOutOfRangeException(nameof(firstAddress), "The first bus address must be a non-zero multiple of 4 KiB.");
        FirstAddress = firstAddress;
    }

    /// <summary>Lowest bus address handed out.</summary>
    public ulong FirstAddress { get; }

    /// <summary>The address space devices DMA into.</summary>
    public DmaAddressSpace AddressSpace { get; } = new();

    /// <summary>Allocates <paramref name="length"/> zeroed bytes at a bus address below 2^<paramref name="addressBits"/>; dispose the window's memory through <see cref="Free"/>.</summary>
    public (NativeMemoryBlock Memory, ulong BusAddress) Allocate(ulong length, int addressBits)
    {
        if (length == 0) throw new ArgumentOutOfRangeException(nameof(length), "A DMA buffer needs at least one byte.");
        ulong rounded = (length + Page - 1) & ~(Page - 1);
        ulong limit = addressBits >= 64 ? ulong.MaxValue : (1UL << addressBits) - 1;
        ulong address;
        using (_lock.EnterScope())
        {
            address = FirstFit(rounded, limit)
                ?? throw new InsufficientMemoryException($"No 0x{rounded:x}-byte hole below 2^{addressBits} is free in the host's DMA address space; free buffers or widen the device's DMA mask.");
            _allocated.Add(address, rounded);
        }
        var memory = new NativeMemoryBlock(length);
        if (!AddressSpace.TryMap(new MemoryDmaWindow(address, memory, 0, length, DmaAccess.ReadWrite, ownsMemory: true)))
        {
            memory.Dispose();
            using (_lock.EnterScope()) _allocated.Remove(address);
            throw new InvalidOperationException("The DMA allocator and the address space disagree; this is a bug in PciKit.");
        }
        return (memory, address);
    }

    /// <summary>Unmaps and frees the buffer at <paramref name="busAddress"/>.</summary>
    public void Free(ulong busAddress, ulong length)
    {
        AddressSpace.TryUnmap(busAddress, length);
        using var _ = _lock.EnterScope();
        _allocated.Remove(busAddress);
    }

    private ulong? FirstFit(ulong length, ulong limit)
    {
        ulong cursor = FirstAddress;
        foreach (var (start, len) in _allocated)
        {
            if (start >= cursor && start - cursor >= length) break;
            cursor = Math.Max(cursor, start + len);
        }
        if (cursor + length - 1 < cursor || cursor + length - 1 > limit) return null;
        return cursor;
    }

    /// <summary>Frees everything.</summary>
    public void Dispose()
    {
        AddressSpace.UnmapAll();
        using var _ = _lock.EnterScope();
        _allocated.Clear();
    }
}
