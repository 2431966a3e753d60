using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PciKit.Memory;

/// <summary>
/// A block of native memory with one owner and a lifetime: RAM behind a BAR, a DMA buffer, a mapped window of
/// another process's memory. Every accessor is bounds-checked (overflow-safe); after <see cref="Dispose()"/>
/// every accessor throws <see cref="ObjectDisposedException"/>, so views become invalid rather than dangling.
/// </summary>
/// <remarks>
/// Disposal must not race with an access in flight: the owner of a block (a device, a DMA address space, a
/// session) disposes it under the same serialisation as its accesses.
/// </remarks>
public abstract unsafe class MemoryBlock : IDisposable
{
    private byte* _pointer;

    /// <summary>Wraps <paramref name="length"/> bytes at <paramref name="pointer"/>; the subclass owns the memory.</summary>
    protected MemoryBlock(byte* pointer, ulong length)
    {
        if (pointer == null && length != 0) throw new ArgumentNullException(nameof(pointer));
        _pointer = pointer;
        Length = length;
    }

    /// <summary>Length in bytes.</summary>
    public ulong Length { get; }

    /// <summary>True after <see cref="Dispose()"/>.</summary>
    public bool IsDisposed => _pointer == null && Length != 0;

    /// <summary>The base address, for hot paths and native interop. The caller keeps its accesses inside <see cref="Length"/>.</summary>
    public byte* Pointer
    {
        get
        {
            var p = _pointer;
            if (p == null && Length != 0) ThrowDisposed();
            return p;
        }
    }

    /// <summary>A span over [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>).</summary>
    public Span<byte> GetSpan(ulong offset, int length)
    {
        var p = Pointer;
        CheckBounds(offset, length);
        return new Span<byte>(p + offset, length);
    }

    /// <summary>Reads an unmanaged value at <paramref name="offset"/> (host byte order, unaligned allowed).</summary>
    public T Read<T>(ulong offset) where T : unmanaged
    {
        var p = Pointer;
        CheckBounds(offset, sizeof(T));
        return Unsafe.ReadUnaligned<T>(p + offset);
    }

    /// <summary>Writes an unmanaged value at <paramref name="offset"/> (host byte order, unaligned allowed).</summary>
    public void Write<T>(ulong offset, T value) where T : unmanaged
    {
        var p = Pointer;
        CheckBounds(offset, sizeof(T));
        Unsafe.WriteUnaligned(p + offset, value);
    }

    /// <summary>Copies <paramref name="destination"/>.Length bytes from <paramref name="offset"/>.</summary>
    public void CopyTo(ulong offset, Span<byte> destination) => GetSpan(offset, destination.Length).CopyTo(destination);

    /// <summary>Copies <paramref name="source"/> to <paramref name="offset"/>.</summary>
    public void CopyFrom(ulong offset, ReadOnlySpan<byte> source) => source.CopyTo(GetSpan(offset, source.Length));

    /// <summary>True when [<paramref name="offset"/>, +<paramref name="length"/>) lies inside the block.</summary>
    public bool Contains(ulong offset, ulong length) => offset <= Length && length <= Length - offset;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckBounds(ulong offset, int length)
    {
        if (length < 0 || offset > Length || (ulong)length > Length - offset) ThrowOutOfRange(offset, length);
    }

    private void ThrowOutOfRange(ulong offset, int length) =>
        throw new ArgumentOutOfRangeException(nameof(offset), $"[0x{offset:x}, +0x{length:x}) lies outside this 0x{Length:x}-byte memory block.");

    private void ThrowDisposed() => throw new ObjectDisposedException(GetType().Name, "This memory has been released (unmapped or freed); take a new mapping.");

    /// <summary>Releases the memory; afterwards every accessor throws.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the memory. Subclasses free it in <see cref="Release"/>.</summary>
    protected virtual void Dispose(bool disposing)
    {
        var p = _pointer;
        if (p == null) return;
        _pointer = null;
        Release(p, Length);
    }

    /// <summary>Frees the memory the block wraps; called once.</summary>
    protected abstract void Release(byte* pointer, ulong length);
}

/// <summary>Page-aligned, zeroed memory from the process heap (no OS call beyond the runtime's allocator).</summary>
public sealed unsafe class NativeMemoryBlock : MemoryBlock
{
    /// <summary>Allocates <paramref name="length"/> zeroed bytes aligned to 4 KiB.</summary>
    public NativeMemoryBlock(ulong length) : base(Allocate(length), length) { }

    private static byte* Allocate(ulong length)
    {
        if (length == 0) throw new ArgumentOutOfRangeException(nameof(length), "A memory block needs at least one byte.");
        var p = (byte*)NativeMemory.AlignedAlloc((nuint)length, 4096);
        NativeMemory.Clear(p, (nuint)length);
        return p;
    }

    /// <inheritdoc />
    protected override void Release(byte* pointer, ulong length) => NativeMemory.AlignedFree(pointer);

    /// <summary>Frees the memory if the owner forgot to.</summary>
    ~NativeMemoryBlock() => Dispose(false);
}
