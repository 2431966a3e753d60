using System.Runtime.CompilerServices;
using PciKit.Config;

namespace PciKit.Driver;

public sealed partial class PciFunction
{
    /// <summary>Describes BAR <paramref name="index"/> (0–5, 6 = expansion ROM): kind, size, prefetchable, programmed address.</summary>
    public PciBarInfo GetBarInfo(int index)
    {
        EnsureOpen();
        if ((uint)index > 6) throw new ArgumentOutOfRangeException(nameof(index), index, "BARs are 0–5; the expansion ROM is 6.");
        ulong size = _barSizes[index];
        if (size == 0) return new PciBarInfo(index, PciBarKind.None, 0, false, 0);
        if (index == 6) return new PciBarInfo(6, PciBarKind.Rom, size, false, ConfigRead32(PciHeader.RomAddress) & 0xFFFF_F800);
        uint low = ConfigRead32(PciHeader.Bar0 + 4 * index);
        if ((low & 1) != 0) return new PciBarInfo(index, PciBarKind.Io, size, false, low & 0xFFFF_FFFC);
        bool is64 = ((low >> 1) & 3) == 2;
        ulong address = low & 0xFFFF_FFF0;
        if (is64 && index < 5) address |= (ulong)ConfigRead32(PciHeader.Bar0 + 4 * (index + 1)) << 32;
        return new PciBarInfo(index, is64 ? PciBarKind.Memory64 : PciBarKind.Memory32, size, (low & 8) != 0, address);
    }

    /// <summary>Reads a byte from BAR <paramref name="bar"/> at <paramref name="offset"/>.</summary>
    public byte MemoryRead8(int bar, ulong offset) { CheckBar(bar, offset, 1); return (byte)_backend.BarRead(bar, offset, 1); }
    /// <summary>Reads 16 bits (little-endian) from a BAR.</summary>
    public ushort MemoryRead16(int bar, ulong offset) { CheckBar(bar, offset, 2); return (ushort)_backend.BarRead(bar, offset, 2); }
    /// <summary>Reads 32 bits (little-endian) from a BAR.</summary>
    public uint MemoryRead32(int bar, ulong offset) { CheckBar(bar, offset, 4); return (uint)_backend.BarRead(bar, offset, 4); }
    /// <summary>Reads 64 bits (little-endian) from a BAR.</summary>
    public ulong MemoryRead64(int bar, ulong offset) { CheckBar(bar, offset, 8); return _backend.BarRead(bar, offset, 8); }
    /// <summary>Writes a byte to a BAR.</summary>
    public void MemoryWrite8(int bar, ulong offset, byte value) { CheckBar(bar, offset, 1); _backend.BarWrite(bar, offset, 1, value); }
    /// <summary>Writes 16 bits to a BAR.</summary>
    public void MemoryWrite16(int bar, ulong offset, ushort value) { CheckBar(bar, offset, 2); _backend.BarWrite(bar, offset, 2, value); }
    /// <summary>Writes 32 bits to a BAR.</summary>
    public void MemoryWrite32(int bar, ulong offset, uint value) { CheckBar(bar, offset, 4); _backend.BarWrite(bar, offset, 4, value); }
    /// <summary>Writes 64 bits to a BAR.</summary>
    public void MemoryWrite64(int bar, ulong offset, ulong value) { CheckBar(bar, offset, 8); _backend.BarWrite(bar, offset, 8, value); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckBar(int bar, ulong offset, int size)
    {
        EnsureOpen();
        if ((uint)bar > 6 || offset > _barSizes[bar] || (ulong)size > _barSizes[bar] - offset) ThrowBadBarAccess(bar, offset, size);
    }

    private void ThrowBadBarAccess(int bar, ulong offset, int size)
    {
        if ((uint)bar > 6) throw new ArgumentOutOfRangeException(nameof(bar), bar, "BARs are 0–5; the expansion ROM is 6.");
        if (_barSizes[bar] == 0) throw new ArgumentOutOfRangeException(nameof(bar), bar, $"BAR {bar} of {Address} is not implemented; see GetBarInfo.");
        throw new ArgumentOutOfRangeException(nameof(offset), offset, $"A {size}-byte access at 0x{offset:x} leaves BAR {bar} (0x{_barSizes[bar]:x} bytes).");
    }

    /// <summary>
    /// Maps [<paramref name="offset"/>, +<paramref name="length"/>) of BAR <paramref name="bar"/> into this process
    /// (the whole BAR by default). Only plain memory (RAM/shared memory behind the BAR) can be mapped; registers
    /// cannot. The mapping is released by disposing it or when the session closes.
    /// </summary>
    public PciMemoryMapping MapBar(int bar, ulong offset = 0, ulong? length = null)
    {
        EnsureOpen();
        if ((uint)bar > 6 || _barSizes[bar] == 0) throw new ArgumentOutOfRangeException(nameof(bar), bar, $"BAR {bar} of {Address} is not implemented; see GetBarInfo.");
        ulong len = length ?? _barSizes[bar] - Math.Min(offset, _barSizes[bar]);
        if (len == 0 || offset > _barSizes[bar] || len > _barSizes[bar] - offset)
            throw new ArgumentOutOfRangeException(nameof(length), $"[0x{offset:x}, +0x{len:x}) is not a non-empty range inside BAR {bar} (0x{_barSizes[bar]:x} bytes).");
        var mapping = _backend.TryMapBar(bar, offset, len, out string? reason)
            ?? throw new PciDriverException($"BAR {bar} of {Address} cannot be mapped at [0x{offset:x}, +0x{len:x}): {reason ?? "the backend does not map it"}. Use MemoryRead/MemoryWrite for registers.");
        _mappings.Add(mapping);
        return mapping;
    }

    /// <summary>
    /// Allocates a zeroed DMA buffer of <paramref name="length"/> bytes at a device address below
    /// 2^<paramref name="addressBits"/> (the device's DMA mask, like IODMACommand's maxAddressBits). Released by
    /// disposing it or when the session closes.
    /// </summary>
    public DmaBuffer AllocateDmaBuffer(ulong length, int addressBits = 64)
    {
        EnsureOpen();
        if (length == 0) throw new ArgumentOutOfRangeException(nameof(length), "A DMA buffer needs at least one byte.");
        if (addressBits is < 12 or > 64) throw new ArgumentOutOfRangeException(nameof(addressBits), addressBits, "The DMA address width must be 12–64 bits.");
        var buffer = _backend.AllocateDmaBuffer(length, addressBits);
        _dmaBuffers.Add(buffer);
        return buffer;
    }
}
