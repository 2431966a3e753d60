using PciKit.Memory;

namespace PciKit.Driver;

/// <summary>
/// A BAR's memory mapped into this process (PCIDriverKit's <c>_CopyDeviceMemoryWithIndex</c> + <c>CreateMapping</c>):
/// a bounds-checked view. After <see cref="Dispose"/> (or when the session closes) every accessor throws
/// <see cref="ObjectDisposedException"/>.
/// </summary>
public sealed class PciMemoryMapping : IDisposable
{
    private readonly MemoryBlock _block;
    private readonly ulong _offset;
    private readonly Action? _release;
    private bool _disposed;

    /// <summary>Creates a view of [<paramref name="offset"/>, +<paramref name="length"/>) of <paramref name="block"/>; <paramref name="release"/> runs once on dispose (unmap).</summary>
    public PciMemoryMapping(int barIndex, MemoryBlock block, ulong offset, ulong length, Action? release)
    {
        ArgumentNullException.ThrowIfNull(block);
        if (!block.Contains(offset, length)) throw new ArgumentOutOfRangeException(nameof(length), "The mapping lies outside the memory behind it.");
        BarIndex = barIndex;
        _block = block;
        _offset = offset;
        Length = length;
        _release = release;
    }

    /// <summary>The BAR this maps.</summary>
    public int BarIndex { get; }

    /// <summary>Length in bytes.</summary>
    public ulong Length { get; }

    /// <summary>
    /// The file behind this mapping, when the memory is shareable (memfd, shm, a vfio-user region's fd): what a
    /// user-client service hands to another process (PCIDriverKit's <c>CopyClientMemoryForType</c>). The handle stays
    /// owned by the memory behind the mapping; the mapping's byte 0 is at <paramref name="fileOffset"/> in the file.
    /// Returns false for process memory (a heap-backed BAR), which no other process can map.
    /// </summary>
    public bool TryGetFile([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out System.Runtime.InteropServices.SafeHandle? file, out ulong fileOffset)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_block is IShareableMemory { } shareable && !_block.IsDisposed)
        {
            try
            {
                file = shareable.FileHandle;
                fileOffset = shareable.FileOffset + _offset;
                return true;
            }
            catch (InvalidOperationException)
            {
                // A block that can be shareable but was made without keeping its descriptor.
            }
        }
        file = null;
        fileOffset = 0;
        return false;
    }

    /// <summary>A span over [<paramref name="offset"/>, +<paramref name="length"/>).</summary>
    public Span<byte> GetSpan(ulong offset, int length)
    {
        Check(offset, length);
        return _block.GetSpan(_offset + offset, length);
    }

    /// <summary>Reads a value at <paramref name="offset"/>.</summary>
    public unsafe T Read<T>(ulong offset) where T : unmanaged
    {
        Check(offset, sizeof(T));
        return _block.Read<T>(_offset + offset);
    }

    /// <summary>Writes a value at <paramref name="offset"/>.</summary>
    public unsafe void Write<T>(ulong offset, T value) where T : unmanaged
    {
        Check(offset, sizeof(T));
        _block.Write(_offset + offset, value);
    }

    private void Check(ulong offset, int length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (length < 0 || offset > Length || (ulong)length > Length - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[0x{offset:x}, +0x{length:x}) lies outside this 0x{Length:x}-byte mapping of BAR {BarIndex}.");
    }

    /// <summary>Unmaps.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _release?.Invoke();
    }
}
