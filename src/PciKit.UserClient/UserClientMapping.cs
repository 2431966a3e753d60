using PciKit.Linux;

namespace PciKit.UserClient;

/// <summary>
/// Memory of a driver mapped into this process (<c>IOConnectMapMemory64</c>): a bounds-checked view of
/// <see cref="Length"/> bytes. A read-only mapping throws <see cref="InvalidOperationException"/> on writes (and the
/// pages are mapped without PROT_WRITE). After <see cref="Dispose"/> every accessor throws <see cref="ObjectDisposedException"/>.
/// </summary>
/// <remarks>The memory is shared with the device and other processes: reads may observe concurrent writes.</remarks>
public sealed class UserClientMapping : IDisposable
{
    private readonly MemoryMapping _mapping;
    private readonly ulong _delta;

    internal UserClientMapping(int type, MemoryMapping mapping, ulong delta, ulong length)
    {
        Type = type;
        _mapping = mapping;
        _delta = delta;
        Length = length;
    }

    /// <summary>The memory type.</summary>
    public int Type { get; }

    /// <summary>Length in bytes.</summary>
    public ulong Length { get; }

    /// <summary>Mapped without write access.</summary>
    public bool IsReadOnly => !_mapping.IsWritable;

    /// <summary>True after <see cref="Dispose"/>.</summary>
    public bool IsDisposed => _mapping.IsDisposed;

    /// <summary>Reads a value at <paramref name="offset"/> (host byte order).</summary>
    public unsafe T Read<T>(ulong offset) where T : unmanaged => _mapping.Read<T>(At(offset, sizeof(T)));

    /// <summary>Writes a value at <paramref name="offset"/> (host byte order).</summary>
    public unsafe void Write<T>(ulong offset, T value) where T : unmanaged => _mapping.Write(At(offset, sizeof(T)), value);

    /// <summary>Copies <c>destination.Length</c> bytes from <paramref name="offset"/>.</summary>
    public void CopyTo(ulong offset, Span<byte> destination) => _mapping.CopyTo(At(offset, destination.Length), destination);

    /// <summary>Copies <paramref name="source"/> to <paramref name="offset"/>.</summary>
    public void CopyFrom(ulong offset, ReadOnlySpan<byte> source) => _mapping.CopyFrom(At(offset, source.Length), source);

    /// <summary>A read-only span over [<paramref name="offset"/>, +<paramref name="length"/>); do not use it after <see cref="Dispose"/>.</summary>
    public ReadOnlySpan<byte> GetReadOnlySpan(ulong offset, int length) => _mapping.GetReadOnlySpan(At(offset, length), length);

    /// <summary>A writable span (read-write mappings only); do not use it after <see cref="Dispose"/>.</summary>
    public Span<byte> GetSpan(ulong offset, int length) => _mapping.GetSpan(At(offset, length), length);

    private ulong At(ulong offset, int length)
    {
        ObjectDisposedException.ThrowIf(_mapping.IsDisposed, this);
        if (length < 0 || offset > Length || (ulong)length > Length - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[0x{offset:x}, +0x{length:x}) lies outside this 0x{Length:x}-byte mapping of memory type {Type}.");
        return _delta + offset;
    }

    /// <summary>Unmaps.</summary>
    public void Dispose() => _mapping.Dispose();
}
