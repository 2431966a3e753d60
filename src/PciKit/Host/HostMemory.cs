using PciKit.Memory;

namespace PciKit.Host;

/// <summary>
/// The in-process host's RAM as devices see it: DMA buffers allocated from the process heap and mapped into one
/// <see cref="DmaAddressSpace"/> at page-aligned bus addresses (no IOMMU: every device on the bus sees every buffer,
/// as on a PC without one).
/// </summary>
public sealed class HostMemory : IDisposable
{
    private readonly Lock _lock = new();
    private readonly IovaAllocator _allocator;

    /// <summary>Creates host memory whose bus addresses start at <paramref name="firstAddress"/>.</summary>
    public HostMemory(ulong firstAddress = 0x10_0000)
    {
        if (firstAddress == 0 || firstAddress % IovaAllocator.Page != 0) throw new ArgumentOutOfRangeException(nameof(firstAddress), "The first bus address must be a non-zero multiple of 4 KiB.");
        FirstAddress = firstAddress;
        _allocator = new IovaAllocator(firstAddress);
    }

    /// <summary>Lowest bus address handed out.</summary>
    public ulong FirstAddress { get; }

    /// <summary>The address space devices DMA into.</summary>
    public DmaAddressSpace AddressSpace { get; } = new();

    /// <summary>Allocates <paramref name="length"/> zeroed bytes at a bus address below 2^<paramref name="addressBits"/>; dispose the window's memory through <see cref="Free"/>.</summary>
    public (NativeMemoryBlock Memory, ulong BusAddress) Allocate(ulong length, int addressBits)
    {
        if (length == 0) throw new ArgumentOutOfRangeException(nameof(length), "A DMA buffer needs at least one byte.");
        ulong address;
        using (_lock.EnterScope())
        {
            address = _allocator.Allocate(length, addressBits)
                ?? throw new InsufficientMemoryException($"No 0x{IovaAllocator.RoundUp(length):x}-byte hole below 2^{addressBits} is free in the host's DMA address space; free buffers or widen the device's DMA mask.");
        }
        var memory = new NativeMemoryBlock(length);
        if (!AddressSpace.TryMap(new MemoryDmaWindow(address, memory, 0, length, DmaAccess.ReadWrite, ownsMemory: true)))
        {
            memory.Dispose();
            using (_lock.EnterScope()) _allocator.Free(address);
            throw new InvalidOperationException("The DMA allocator and the address space disagree; this is a bug in PciKit.");
        }
        return (memory, address);
    }

    /// <summary>Unmaps and frees the buffer at <paramref name="busAddress"/>.</summary>
    public void Free(ulong busAddress, ulong length)
    {
        AddressSpace.TryUnmap(busAddress, length);
        using var _ = _lock.EnterScope();
        _allocator.Free(busAddress);
    }

    /// <summary>Frees everything.</summary>
    public void Dispose()
    {
        AddressSpace.UnmapAll();
        using var _ = _lock.EnterScope();
        _allocator.Clear();
    }
}
