using System.Buffers;
using PciKit.Memory;

namespace PciKit.Devices.Virtio.Blk;

/// <summary>
/// A reusable <see cref="Memory{T}"/> view of one pinned DMA range (guest memory this process maps), so a scatter list
/// of guest buffers can go to vectored file I/O (preadv/pwritev) without a bounce buffer. Valid only while the
/// <see cref="DmaPin"/> it was set from is held.
/// </summary>
internal sealed unsafe class PinnedSegment : MemoryManager<byte>
{
    private MemoryBlock? _memory;
    private ulong _offset;
    private int _length;

    public void Set(in DmaPin pin)
    {
        _memory = pin.Memory;
        _offset = pin.Offset;
        _length = pin.Length;
    }

    /// <summary>Extends the view over <paramref name="pin"/> when it directly follows it in the same memory (one iovec instead of two).</summary>
    public bool TryExtend(in DmaPin pin)
    {
        if (!ReferenceEquals(_memory, pin.Memory) || _offset + (ulong)_length != pin.Offset || pin.Length > int.MaxValue - _length) return false;
        _length += pin.Length;
        return true;
    }

    public void Clear() => _memory = null;

    public override Span<byte> GetSpan() => _memory is null ? default : _memory.GetSpan(_offset, _length);

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        if (_memory is null || (uint)elementIndex > (uint)_length) throw new InvalidOperationException("The pinned segment is not set.");
        return new MemoryHandle(_memory.Pointer + _offset + (uint)elementIndex);
    }

    public override void Unpin() { }

    protected override void Dispose(bool disposing) { }
}
