using System.Buffers.Binary;

namespace PciKit.Config;

/// <summary>
/// A PCI configuration space: the bytes, a per-byte write mask and a per-byte write-1-to-clear mask,
/// applied by one write rule (<c>c = (c &amp; ~w) | (v &amp; w); c &amp;= ~(v &amp; w1c)</c>), plus the power-on
/// image that a reset restores.
/// </summary>
/// <remarks>
/// <para>Driver- and guest-visible accesses go through <see cref="Read"/> and <see cref="Write"/>; they never throw for
/// bad offsets or sizes (an out-of-range read returns all-ones, an out-of-range write is dropped) because their
/// input comes from outside. Device-internal updates use the <c>Set*</c> methods, which bypass the masks.</para>
/// <para>Not thread-safe: the owning <see cref="Device.PciDevice"/> serialises every access under its lock.</para>
/// </remarks>
public sealed class ConfigSpace
{
    private readonly byte[] _data;
    private readonly byte[] _writeMask;
    private readonly byte[] _w1cMask;
    private byte[]? _powerOn;
    private WriteObserver[] _observers = [];

    /// <summary>Creates an all-zero, read-only space of <paramref name="size"/> bytes (256 or 4096).</summary>
    public ConfigSpace(int size)
    {
        if (size != PciHeader.ConventionalSize && size != PciHeader.ExtendedSize)
            throw new ArgumentOutOfRangeException(nameof(size), size, "A configuration space is 256 bytes (conventional PCI) or 4096 bytes (PCI Express).");
        _data = new byte[size];
        _writeMask = new byte[size];
        _w1cMask = new byte[size];
    }

    /// <summary>256 or 4096.</summary>
    public int Size => _data.Length;

    /// <summary>True for a 4096-byte PCI Express space.</summary>
    public bool IsExtended => _data.Length == PciHeader.ExtendedSize;

    /// <summary>The current bytes (read-only view; for dumps and inspection).</summary>
    public ReadOnlySpan<byte> Bytes => _data;

    /// <summary>The write mask (read-only view).</summary>
    public ReadOnlySpan<byte> WriteMask => _writeMask;

    /// <summary>The write-1-to-clear mask (read-only view).</summary>
    public ReadOnlySpan<byte> WriteOneToClearMask => _w1cMask;

    /// <summary>True once <see cref="CapturePowerOnState"/> has run.</summary>
    public bool IsSealed => _powerOn is not null;

    /// <summary>
    /// A driver or guest read of 1, 2 or 4 bytes, little-endian. An access outside the space or of another size
    /// reads all-ones (as a master abort would); it never throws.
    /// </summary>
    public uint Read(int offset, int size)
    {
        if (!IsValidAccess(offset, size)) return size >= 4 || size <= 0 ? 0xFFFF_FFFFu : (1u << (size * 8)) - 1;
        return size switch
        {
            1 => _data[offset],
            2 => BinaryPrimitives.ReadUInt16LittleEndian(_data.AsSpan(offset, 2)),
            _ => BinaryPrimitives.ReadUInt32LittleEndian(_data.AsSpan(offset, 4)),
        };
    }

    /// <summary>
    /// A driver or guest write of 1, 2 or 4 bytes through the write and write-1-to-clear masks; then the observers of
    /// the touched range run. Returns false (and changes nothing) for an access outside the space or of another size.
    /// </summary>
    public bool Write(int offset, int size, uint value)
    {
        if (!IsValidAccess(offset, size)) return false;
        for (int i = 0; i < size; i++)
        {
            int at = offset + i;
            byte v = (byte)(value >> (8 * i));
            byte w = _writeMask[at];
            byte c = (byte)((_data[at] & ~w) | (v & w));
            c &= (byte)~(v & _w1cMask[at]);
            _data[at] = c;
        }
        var observers = _observers;
        for (int i = 0; i < observers.Length; i++)
        {
            ref readonly var o = ref observers[i];
            if (offset < o.End && offset + size > o.Start) o.Observer.OnConfigWrite(offset, size, value);
        }
        return true;
    }

    /// <summary>True when <paramref name="offset"/>/<paramref name="size"/> is a 1-, 2- or 4-byte access inside the space.</summary>
    public bool IsValidAccess(int offset, int size) =>
        (size == 1 || size == 2 || size == 4) && offset >= 0 && offset <= _data.Length - size;

    /// <summary>Registers an observer called after every driver write that touches [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>).</summary>
    public void Observe(int start, int length, IConfigWriteObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        CheckRange(start, length);
        _observers = [.. _observers, new WriteObserver(start, start + length, observer)];
    }

    // ---- device-internal access: bypasses the masks ----

    /// <summary>Reads a byte (device-internal).</summary>
    public byte Get8(int offset) { CheckRange(offset, 1); return _data[offset]; }
    /// <summary>Reads a 16-bit little-endian value (device-internal).</summary>
    public ushort Get16(int offset) { CheckRange(offset, 2); return BinaryPrimitives.ReadUInt16LittleEndian(_data.AsSpan(offset)); }
    /// <summary>Reads a 32-bit little-endian value (device-internal).</summary>
    public uint Get32(int offset) { CheckRange(offset, 4); return BinaryPrimitives.ReadUInt32LittleEndian(_data.AsSpan(offset)); }
    /// <summary>Reads a 64-bit little-endian value (device-internal).</summary>
    public ulong Get64(int offset) { CheckRange(offset, 8); return BinaryPrimitives.ReadUInt64LittleEndian(_data.AsSpan(offset)); }
    /// <summary>Sets a byte, bypassing the masks (device-internal).</summary>
    public void Set8(int offset, byte value) { CheckRange(offset, 1); _data[offset] = value; }
    /// <summary>Sets a 16-bit value, bypassing the masks (device-internal).</summary>
    public void Set16(int offset, ushort value) { CheckRange(offset, 2); BinaryPrimitives.WriteUInt16LittleEndian(_data.AsSpan(offset), value); }
    /// <summary>Sets a 32-bit value, bypassing the masks (device-internal).</summary>
    public void Set32(int offset, uint value) { CheckRange(offset, 4); BinaryPrimitives.WriteUInt32LittleEndian(_data.AsSpan(offset), value); }
    /// <summary>Sets a 64-bit value, bypassing the masks (device-internal).</summary>
    public void Set64(int offset, ulong value) { CheckRange(offset, 8); BinaryPrimitives.WriteUInt64LittleEndian(_data.AsSpan(offset), value); }
    /// <summary>Sets the bits of <paramref name="bits"/> in a 16-bit register (device-internal).</summary>
    public void SetBits16(int offset, ushort bits) => Set16(offset, (ushort)(Get16(offset) | bits));
    /// <summary>Clears the bits of <paramref name="bits"/> in a 16-bit register (device-internal).</summary>
    public void ClearBits16(int offset, ushort bits) => Set16(offset, (ushort)(Get16(offset) & ~bits));

    /// <summary>Copies bytes in, bypassing the masks (device-internal).</summary>
    public void SetBytes(int offset, ReadOnlySpan<byte> bytes) { CheckRange(offset, bytes.Length); bytes.CopyTo(_data.AsSpan(offset)); }

    // ---- masks (set while the device is being built) ----

    /// <summary>Makes the bits of <paramref name="mask"/> writable in the <paramref name="width"/>-byte register at <paramref name="offset"/>.</summary>
    public void SetWriteMask(int offset, int width, ulong mask) => SetMask(_writeMask, offset, width, mask);

    /// <summary>Makes the bits of <paramref name="mask"/> write-1-to-clear in the register at <paramref name="offset"/>.</summary>
    public void SetWriteOneToClearMask(int offset, int width, ulong mask) => SetMask(_w1cMask, offset, width, mask);

    /// <summary>Reads back the write mask of a register (for tests and transports that must mirror it).</summary>
    public ulong GetWriteMask(int offset, int width)
    {
        CheckRange(offset, width);
        ulong m = 0;
        for (int i = 0; i < width; i++) m |= (ulong)_writeMask[offset + i] << (8 * i);
        return m;
    }

    private void SetMask(byte[] target, int offset, int width, ulong mask)
    {
        if (width is < 1 or > 8) throw new ArgumentOutOfRangeException(nameof(width), width, "A register is 1 to 8 bytes wide.");
        CheckRange(offset, width);
        if (_powerOn is not null) throw new InvalidOperationException("The configuration space is sealed: masks are set while the device is built, before its power-on state is captured.");
        for (int i = 0; i < width; i++) target[offset + i] = (byte)(mask >> (8 * i));
    }

    // ---- reset ----

    /// <summary>Records the current bytes as the power-on state that <see cref="RestorePowerOnState"/> returns to; seals the masks.</summary>
    public void CapturePowerOnState() => _powerOn = (byte[])_data.Clone();

    /// <summary>Restores the power-on bytes (conventional reset and function-level reset). Observers are not called.</summary>
    public void RestorePowerOnState()
    {
        if (_powerOn is null) throw new InvalidOperationException("The power-on state has not been captured yet; the device is still being built.");
        _powerOn.CopyTo(_data, 0);
    }

    private void CheckRange(int offset, int length)
    {
        if (offset < 0 || length < 0 || offset > _data.Length - length)
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"[0x{offset:x}, +{length}) lies outside the {_data.Length}-byte configuration space.");
    }

    private readonly record struct WriteObserver(int Start, int End, IConfigWriteObserver Observer);
}

/// <summary>Notified after a driver write has been applied to a watched range of a <see cref="ConfigSpace"/>.</summary>
public interface IConfigWriteObserver
{
    /// <summary>Called after the masked store; <paramref name="value"/> is what the driver wrote, before masking.</summary>
    void OnConfigWrite(int offset, int size, uint value);
}
