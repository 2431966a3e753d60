using PciKit.Device;

namespace PciKit.Devices.Virtio;

/// <summary>
/// One request popped from a virtqueue: the head index and its buffers, device-readable ones first, then
/// device-writable ones, flattened across indirect tables. <see cref="Read"/> gathers from the readable part and
/// <see cref="Write"/> scatters into the writable part, both through the device's DMA port and both at logical
/// offsets, so a device never cares how the driver split a request into descriptors. Reused for every request of a
/// device (no allocation per request); valid until the next request is popped.
/// </summary>
public sealed class DescriptorChain
{
    private readonly DmaPort _dma;
    private readonly ulong[] _address;
    private readonly uint[] _length;
    private int _count;
    private int _limit;

    internal DescriptorChain(DmaPort dma, int capacity)
    {
        _dma = dma;
        _address = new ulong[capacity];
        _length = new uint[capacity];
        IndirectTable = new byte[capacity * Vring.DescriptorSize];
    }

    /// <summary>The head descriptor index (what goes into the used ring).</summary>
    public ushort Head { get; private set; }

    /// <summary>Number of non-empty buffers.</summary>
    public int BufferCount => _count;

    /// <summary>Number of device-readable buffers (they come first).</summary>
    public int ReadableCount { get; private set; }

    /// <summary>Total bytes the device may read.</summary>
    public long ReadableLength { get; private set; }

    /// <summary>Total bytes the device may write.</summary>
    public long WritableLength { get; private set; }

    /// <summary>Scratch for an indirect table (capacity × 16 bytes).</summary>
    internal byte[] IndirectTable { get; }

    internal int Capacity => _address.Length;

    internal void Clear(ushort head, int limit)
    {
        Head = head;
        _count = 0;
        _limit = Math.Min(limit, _address.Length);
        ReadableCount = 0;
        ReadableLength = 0;
        WritableLength = 0;
    }

    /// <summary>Adds a buffer; null when it is accepted, else why the chain is malformed.</summary>
    internal string? Add(ulong address, uint length, bool writable)
    {
        if (!writable && WritableLength > 0) return "a device-readable descriptor follows a device-writable one";
        if (length == 0) return null;
        if (address + length - 1 < address) return $"descriptor buffer 0x{address:x} + {length} wraps around the address space";
        if (_count == _limit) return $"descriptor chain has more than {_limit} buffers (longer than the queue)";
        _address[_count] = address;
        _length[_count] = length;
        _count++;
        if (writable) WritableLength += length;
        else { ReadableLength += length; ReadableCount++; }
        return null;
    }

    /// <summary>The buffer at <paramref name="index"/> (readable ones first).</summary>
    public (ulong Address, uint Length, bool Writable) this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _count);
            return (_address[index], _length[index], index >= ReadableCount);
        }
    }

    /// <summary>
    /// The buffer that holds byte <paramref name="offset"/> of the device-readable (or device-writable) part, and
    /// <paramref name="skip"/>, the offset within it (past the part's last buffer when the offset is its length).
    /// </summary>
    internal int Locate(bool writable, long offset, out long skip)
    {
        int i = writable ? ReadableCount : 0, end = writable ? _count : ReadableCount;
        skip = offset;
        while (i < end && skip >= _length[i]) skip -= _length[i++];
        return i;
    }

    /// <summary>
    /// Reads <paramref name="destination"/>.Length bytes at <paramref name="offset"/> of the device-readable part.
    /// False when the range goes past the readable part or the DMA fails (unmapped memory, Bus Master off).
    /// </summary>
    public bool Read(long offset, Span<byte> destination)
    {
        if (offset < 0 || destination.Length > ReadableLength - offset) return false;
        int i = Locate(writable: false, offset, out long skip);
        int done = 0;
        while (done < destination.Length)
        {
            int n = (int)Math.Min(_length[i] - skip, destination.Length - done);
            if (_dma.Read(_address[i] + (ulong)skip, destination.Slice(done, n)) != DmaStatus.Ok) return false;
            done += n;
            skip = 0;
            i++;
        }
        return true;
    }

    /// <summary>
    /// Writes <paramref name="source"/> at <paramref name="offset"/> of the device-writable part. False when the range
    /// goes past the writable part or the DMA fails.
    /// </summary>
    public bool Write(long offset, ReadOnlySpan<byte> source)
    {
        if (offset < 0 || source.Length > WritableLength - offset) return false;
        int i = Locate(writable: true, offset, out long skip);
        int done = 0;
        while (done < source.Length)
        {
            int n = (int)Math.Min(_length[i] - skip, source.Length - done);
            if (_dma.Write(_address[i] + (ulong)skip, source.Slice(done, n)) != DmaStatus.Ok) return false;
            done += n;
            skip = 0;
            i++;
        }
        return true;
    }
}
