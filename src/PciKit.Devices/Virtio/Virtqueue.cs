using System.Buffers.Binary;
using System.Numerics;
using PciKit.Device;

namespace PciKit.Devices.Virtio;

/// <summary>
/// A split virtqueue (virtio 1.2, 2.7) as the device sees it: the three areas the driver placed in its memory, the
/// device's position in the available ring and its used index. Every ring access is a DMA through the device's
/// <see cref="DmaPort"/>, so it works over mapped and message DMA alike. Anything malformed — an index running ahead,
/// a descriptor index out of range, a loop, an indirect table inside an indirect table, memory that is not mapped —
/// is reported as a fault string (the device then sets DEVICE_NEEDS_RESET); nothing throws and nothing loops.
/// All members run under the device lock.
/// </summary>
public sealed class Virtqueue
{
    private readonly DmaPort _dma;
    private ushort _lastAvail, _availShadow, _usedIdx, _signalledUsed;
    private bool _signalledValid, _pushed;

    internal Virtqueue(DmaPort dma, int index, ushort maxSize)
    {
        _dma = dma;
        Index = index;
        MaxSize = maxSize;
        Reset();
    }

    /// <summary>The queue's index (also its queue_notify_off).</summary>
    public int Index { get; }

    /// <summary>The largest size the device supports (what queue_size reads after a reset).</summary>
    public ushort MaxSize { get; }

    /// <summary>The size the driver chose.</summary>
    public ushort Size { get; internal set; }

    /// <summary>The driver enabled the queue.</summary>
    public bool Enabled { get; internal set; }

    /// <summary>The MSI-X vector for used-buffer notifications (0xFFFF: none).</summary>
    public ushort MsixVector { get; internal set; }

    /// <summary>Address of the descriptor table.</summary>
    public ulong DescriptorArea { get; internal set; }

    /// <summary>Address of the available ring (driver area).</summary>
    public ulong DriverArea { get; internal set; }

    /// <summary>Address of the used ring (device area).</summary>
    public ulong DeviceArea { get; internal set; }

    /// <summary>The next available-ring position the device will consume.</summary>
    public ushort LastAvailIndex => _lastAvail;

    /// <summary>The device's used index.</summary>
    public ushort UsedIndex => _usedIdx;

    internal bool EventIdx { get; set; }
    internal bool IndirectAllowed { get; set; }

    internal void Reset()
    {
        Size = MaxSize;
        Enabled = false;
        MsixVector = VirtioPciDevice.NoVector;
        DescriptorArea = DriverArea = DeviceArea = 0;
        _lastAvail = _availShadow = _usedIdx = _signalledUsed = 0;
        _signalledValid = false;
        _pushed = false;
        EventIdx = IndirectAllowed = false;
    }

    /// <summary>Why the driver's configuration cannot be enabled, or null.</summary>
    internal string? CheckLayout()
    {
        if (Size == 0 || Size > MaxSize || !BitOperations.IsPow2(Size)) return $"queue size {Size} (a power of two up to {MaxSize})";
        if (DescriptorArea % 16 != 0) return $"descriptor table at 0x{DescriptorArea:x} (16-byte aligned)";
        if (DriverArea % 2 != 0) return $"available ring at 0x{DriverArea:x} (2-byte aligned)";
        if (DeviceArea % 4 != 0) return $"used ring at 0x{DeviceArea:x} (4-byte aligned)";
        ulong descEnd = DescriptorArea + (ulong)Size * Vring.DescriptorSize, availEnd = DriverArea + 6 + 2UL * Size, usedEnd = DeviceArea + 6 + 8UL * Size;
        if (descEnd < DescriptorArea || availEnd < DriverArea || usedEnd < DeviceArea) return "ring areas wrap around the address space";
        return null;
    }

    internal enum PopResult { Popped, Empty, Fault }

    /// <summary>Pops the next available chain into <paramref name="chain"/>.</summary>
    internal PopResult TryPop(DescriptorChain chain, out string? fault)
    {
        fault = null;
        if (_lastAvail == _availShadow)
        {
            if (!RefreshAvail(out fault)) return PopResult.Fault;
            if (_lastAvail == _availShadow) return PopResult.Empty;
        }
        int slot = _lastAvail & (Size - 1);
        if (!ReadU16(DriverArea + 4 + 2UL * (ulong)slot, out ushort head))
        {
            fault = $"available ring entry {slot} at 0x{DriverArea + 4 + 2UL * (ulong)slot:x} is not readable (DMA)";
            return PopResult.Fault;
        }
        if (head >= Size)
        {
            fault = $"available ring entry {slot} names descriptor {head}, beyond the queue size {Size}";
            return PopResult.Fault;
        }
        fault = Walk(head, chain);
        if (fault is not null) return PopResult.Fault;
        _lastAvail++;
        return PopResult.Popped;
    }

    /// <summary>Reads the driver's available index; a value more than a queue ahead of the device is a fault.</summary>
    private bool RefreshAvail(out string? fault)
    {
        fault = null;
        if (!ReadU16(DriverArea + 2, out ushort idx))
        {
            fault = $"available ring index at 0x{DriverArea + 2:x} is not readable (DMA)";
            return false;
        }
        ushort pending = (ushort)(idx - _lastAvail);
        if (pending > Size)
        {
            fault = $"available index {idx} is {pending} entries ahead of the device's {_lastAvail} in a queue of {Size}";
            return false;
        }
        _availShadow = idx;
        return true;
    }

    private string? Walk(ushort head, DescriptorChain chain)
    {
        chain.Clear(head, Size);
        Span<byte> d = stackalloc byte[Vring.DescriptorSize];
        ushort i = head;
        for (int seen = 1; ; seen++)
        {
            if (seen > Size) return $"descriptor chain from {head} loops (more than {Size} descriptors)";
            ulong at = DescriptorArea + (ulong)i * Vring.DescriptorSize;
            if (_dma.Read(at, d) != DmaStatus.Ok) return $"descriptor {i} at 0x{at:x} is not readable (DMA)";
            ulong addr = BinaryPrimitives.ReadUInt64LittleEndian(d);
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(d[8..]);
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(d[12..]);
            ushort next = BinaryPrimitives.ReadUInt16LittleEndian(d[14..]);
            if ((flags & Vring.DescIndirect) != 0)
            {
                if (!IndirectAllowed) return $"descriptor {i} is indirect but VIRTIO_F_INDIRECT_DESC was not negotiated";
                if ((flags & Vring.DescNext) != 0) return $"descriptor {i} is indirect and also has NEXT";
                return WalkIndirect(addr, len, chain);
            }
            if (chain.Add(addr, len, (flags & Vring.DescWrite) != 0) is { } bad) return $"descriptor {i}: {bad}";
            if ((flags & Vring.DescNext) == 0) return null;
            if (next >= Size) return $"descriptor {i} chains to {next}, beyond the queue size {Size}";
            i = next;
        }
    }

    private string? WalkIndirect(ulong table, uint length, DescriptorChain chain)
    {
        if (length == 0 || length % Vring.DescriptorSize != 0) return $"indirect table of {length} bytes (a non-zero multiple of 16)";
        uint count = length / Vring.DescriptorSize;
        if (count > Size || length > chain.IndirectTable.Length) return $"indirect table of {count} descriptors, more than the queue size {Size}";
        var bytes = chain.IndirectTable.AsSpan(0, (int)length);
        if (_dma.Read(table, bytes) != DmaStatus.Ok) return $"indirect table at 0x{table:x} ({length} bytes) is not readable (DMA)";
        uint j = 0;
        for (uint seen = 1; ; seen++)
        {
            if (seen > count) return $"indirect table at 0x{table:x} loops";
            var d = bytes.Slice((int)(j * Vring.DescriptorSize), Vring.DescriptorSize);
            ulong addr = BinaryPrimitives.ReadUInt64LittleEndian(d);
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(d[8..]);
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(d[12..]);
            ushort next = BinaryPrimitives.ReadUInt16LittleEndian(d[14..]);
            if ((flags & Vring.DescIndirect) != 0) return $"indirect table entry {j} is itself indirect";
            if (chain.Add(addr, len, (flags & Vring.DescWrite) != 0) is { } bad) return $"indirect entry {j}: {bad}";
            if ((flags & Vring.DescNext) == 0) return null;
            if (next >= count) return $"indirect table entry {j} chains to {next}, beyond the table's {count} entries";
            j = next;
        }
    }

    /// <summary>Puts (<paramref name="head"/>, <paramref name="written"/>) into the used ring and publishes the new used index.</summary>
    internal string? PushUsed(ushort head, uint written)
    {
        int slot = _usedIdx & (Size - 1);
        Span<byte> e = stackalloc byte[Vring.UsedElemSize];
        BinaryPrimitives.WriteUInt32LittleEndian(e, head);
        BinaryPrimitives.WriteUInt32LittleEndian(e[4..], written);
        ulong at = DeviceArea + 4 + (ulong)slot * Vring.UsedElemSize;
        if (_dma.Write(at, e) != DmaStatus.Ok) return $"used ring entry {slot} at 0x{at:x} is not writable (DMA)";
        ushort old = _usedIdx;
        ushort next = (ushort)(old + 1);
        if (!WriteU16(DeviceArea + 2, next)) return $"used ring index at 0x{DeviceArea + 2:x} is not writable (DMA)";
        _usedIdx = next;
        if ((short)(next - _signalledUsed) < (ushort)(next - old)) _signalledValid = false;
        _pushed = true;
        return null;
    }

    /// <summary>
    /// After the device drained the ring: with EVENT_IDX, publishes avail_event (notify me at the next buffer) and
    /// re-reads the available index, since the driver may have added a buffer before it saw the new avail_event.
    /// True when more buffers are waiting.
    /// </summary>
    internal bool ArmAndRecheck(out string? fault)
    {
        fault = null;
        if (!EventIdx) return false;
        ulong at = DeviceArea + 4 + (ulong)Size * Vring.UsedElemSize;
        if (!WriteU16(at, _lastAvail))
        {
            fault = $"avail_event at 0x{at:x} is not writable (DMA)";
            return false;
        }
        Interlocked.MemoryBarrier(); // the store above must be visible before the load below (store-load order)
        if (!RefreshAvail(out fault)) return false;
        return _availShadow != _lastAvail;
    }

    /// <summary>True when buffers were used since the last call and the driver wants to hear about it (used_event or NO_INTERRUPT).</summary>
    internal bool ShouldNotify(out string? fault)
    {
        fault = null;
        if (!_pushed) return false;
        _pushed = false;
        Interlocked.MemoryBarrier(); // the used index store must be visible before the driver's suppression state is read
        if (EventIdx)
        {
            ulong at = DriverArea + 4 + 2UL * Size;
            if (!ReadU16(at, out ushort usedEvent))
            {
                fault = $"used_event at 0x{at:x} is not readable (DMA)";
                return false;
            }
            bool valid = _signalledValid;
            ushort old = _signalledUsed;
            _signalledValid = true;
            _signalledUsed = _usedIdx;
            return !valid || Vring.NeedEvent(usedEvent, _usedIdx, old);
        }
        if (!ReadU16(DriverArea, out ushort flags))
        {
            fault = $"available ring flags at 0x{DriverArea:x} are not readable (DMA)";
            return false;
        }
        return (flags & Vring.AvailNoInterrupt) == 0;
    }

    private bool ReadU16(ulong address, out ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        bool ok = _dma.Read(address, b) == DmaStatus.Ok;
        value = BinaryPrimitives.ReadUInt16LittleEndian(b);
        return ok;
    }

    private bool WriteU16(ulong address, ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        return _dma.Write(address, b) == DmaStatus.Ok;
    }
}
