using PciKit.Memory;

namespace PciKit.Driver;

/// <summary>
/// Memory the driver shares with the device (PCIDriverKit's IOBufferMemoryDescriptor + IODMACommand): the CPU sees
/// <see cref="Span"/>, the device sees <see cref="DeviceAddress"/>. One contiguous device-visible segment.
/// Disposing unmaps it from the device; afterwards the device's DMA to it fails and <see cref="Span"/> throws.
/// </summary>
public sealed class DmaBuffer : IDisposable
{
    private readonly MemoryBlock _memory;
    private readonly Action<DmaBuffer>? _release;
    private int _disposed;

    /// <summary>Creates a buffer over <paramref name="memory"/> visible to the device at <paramref name="deviceAddress"/>.</summary>
    public DmaBuffer(MemoryBlock memory, ulong deviceAddress, Action<DmaBuffer>? release)
    {
        ArgumentNullException.ThrowIfNull(memory);
        _memory = memory;
        DeviceAddress = deviceAddress;
        _release = release;
    }

    /// <summary>The address the device uses (IOVA / bus address).</summary>
    public ulong DeviceAddress { get; }

    /// <summary>Length in bytes.</summary>
    public ulong Length => _memory.Length;

    /// <summary>The memory as the CPU sees it (at most 2 GiB per span; use <see cref="GetSpan"/> beyond that).</summary>
    public Span<byte> Span => _memory.GetSpan(0, (int)Math.Min(_memory.Length, int.MaxValue));

    /// <summary>A span over part of the buffer.</summary>
    public Span<byte> GetSpan(ulong offset, int length) => _memory.GetSpan(offset, length);

    /// <summary>The memory block (for backends).</summary>
    public MemoryBlock Memory => _memory;

    /// <summary>Unmaps the buffer from the device and frees it.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _release?.Invoke(this);
    }
}
