namespace PciKit.Linux;

/// <summary>
/// A bounds-checked window onto a <see cref="MemoryMapping"/> (e.g. one BAR region or one DMA segment).
/// Offsets are relative to the view. The view does not own memory: once the mapping is disposed every
/// accessor throws <see cref="ObjectDisposedException"/>, so a view is never a dangling pointer.
/// </summary>
public readonly struct MappedView
{
    internal MappedView(MemoryMapping owner, ulong offset, ulong length)
    {
        Owner = owner;
        Offset = offset;
        Length = length;
    }

    /// <summary>The mapping this view reads and writes.</summary>
    public MemoryMapping Owner { get; }

    /// <summary>Where the view starts within <see cref="Owner"/>.</summary>
    public ulong Offset { get; }

    /// <summary>The view's length in bytes.</summary>
    public ulong Length { get; }

    /// <summary><see langword="false"/> for a default view or once the mapping is disposed.</summary>
    public bool IsValid => Owner is not null && !Owner.IsDisposed;

    /// <summary>See <see cref="MemoryMapping.GetSpan"/>; same lifetime rules.</summary>
    /// <param name="offset">Start, relative to the view.</param>
    /// <param name="length">Length in bytes.</param>
    /// <returns>The span.</returns>
    public Span<byte> GetSpan(ulong offset, int length) => Mapping.GetSpan(Translate(offset, length), length);

    /// <summary>See <see cref="MemoryMapping.GetReadOnlySpan"/>; same lifetime rules.</summary>
    /// <param name="offset">Start, relative to the view.</param>
    /// <param name="length">Length in bytes.</param>
    /// <returns>The span.</returns>
    public ReadOnlySpan<byte> GetReadOnlySpan(ulong offset, int length) => Mapping.GetReadOnlySpan(Translate(offset, length), length);

    /// <summary>Reads a <typeparamref name="T"/> at <paramref name="offset"/> within the view.</summary>
    /// <typeparam name="T">An unmanaged type.</typeparam>
    /// <param name="offset">Offset relative to the view.</param>
    /// <returns>The value.</returns>
    public unsafe T Read<T>(ulong offset)
        where T : unmanaged => Mapping.Read<T>(Translate(offset, sizeof(T)));

    /// <summary>Writes a <typeparamref name="T"/> at <paramref name="offset"/> within the view.</summary>
    /// <typeparam name="T">An unmanaged type.</typeparam>
    /// <param name="offset">Offset relative to the view.</param>
    /// <param name="value">The value.</param>
    public unsafe void Write<T>(ulong offset, T value)
        where T : unmanaged => Mapping.Write(Translate(offset, sizeof(T)), value);

    /// <summary>Copies out of the view.</summary>
    /// <param name="offset">Source offset relative to the view.</param>
    /// <param name="destination">Where to copy to.</param>
    public void CopyTo(ulong offset, Span<byte> destination) => Mapping.CopyTo(Translate(offset, destination.Length), destination);

    /// <summary>Copies into the view.</summary>
    /// <param name="offset">Destination offset relative to the view.</param>
    /// <param name="source">The bytes to copy.</param>
    public void CopyFrom(ulong offset, ReadOnlySpan<byte> source) => Mapping.CopyFrom(Translate(offset, source.Length), source);

    /// <summary>A narrower view; offsets relative to this view.</summary>
    /// <param name="offset">Start, relative to this view.</param>
    /// <param name="length">Length.</param>
    /// <returns>The sub-view.</returns>
    public MappedView Slice(ulong offset, ulong length)
    {
        ulong start = Translate(offset, length);
        return new MappedView(Mapping, start, length);
    }

    private MemoryMapping Mapping => Owner ?? throw new InvalidOperationException("The view is default-initialised.");

    private ulong Translate(ulong offset, long length)
    {
        if (length < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length), "Length must not be negative.");
        }

        return Translate(offset, (ulong)length);
    }

    private ulong Translate(ulong offset, ulong length)
    {
        if (offset > Length || length > Length - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"Range [0x{offset:x}, +0x{length:x}) is outside the view (length 0x{Length:x}).");
        }

        if (Mapping.IsDisposed)
        {
            throw new ObjectDisposedException(nameof(MemoryMapping));
        }

        return Offset + offset;
    }
}
