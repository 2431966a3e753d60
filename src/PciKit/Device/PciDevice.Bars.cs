using System.Runtime.CompilerServices;
using PciKit.Capabilities;
using PciKit.Config;

namespace PciKit.Device;

public abstract partial class PciDevice
{
    /// <summary>
    /// Reads <paramref name="size"/> (1, 2, 4 or 8) bytes at <paramref name="offset"/> of BAR <paramref name="bar"/>.
    /// Reads all-ones (counted, logged) when the BAR does not exist or is not decoding, the offset is outside every
    /// region, or the region does not accept the access.
    /// </summary>
    public ulong BarRead(int bar, ulong offset, int size)
    {
        using var _ = SyncRoot.EnterScope();
        if (!TryResolve(bar, offset, size, write: false, out var region, out ulong rel)) return AllOnes(size);
        if (region is RegisterRegion regs) return regs.Read(rel, size) & AllOnes(size);
        var memory = ((MemoryRegion)region).Backing;
        return size switch
        {
            1 => memory.Read<byte>(rel),
            2 => memory.Read<ushort>(rel),
            4 => memory.Read<uint>(rel),
            _ => memory.Read<ulong>(rel),
        };
    }

    /// <summary>
    /// Writes the low <paramref name="size"/> (1, 2, 4 or 8) bytes of <paramref name="value"/> at
    /// <paramref name="offset"/> of BAR <paramref name="bar"/>; dropped (counted, logged) when the access is invalid.
    /// </summary>
    public void BarWrite(int bar, ulong offset, int size, ulong value)
    {
        using var _ = SyncRoot.EnterScope();
        if (!TryResolve(bar, offset, size, write: true, out var region, out ulong rel)) return;
        value &= AllOnes(size);
        if (region is RegisterRegion regs) { regs.Write(rel, size, value); return; }
        var m = (MemoryRegion)region;
        if (m.ReadOnly) return;
        switch (size)
        {
            case 1: m.Backing.Write(rel, (byte)value); break;
            case 2: m.Backing.Write(rel, (ushort)value); break;
            case 4: m.Backing.Write(rel, (uint)value); break;
            default: m.Backing.Write(rel, value); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryResolve(int bar, ulong offset, int size, bool write, out BarRegion region, out ulong rel)
    {
        region = null!;
        rel = 0;
        var b = GetBar(bar);
        if (b is null || size is not (1 or 2 or 4 or 8))
        {
            InvalidBarAccess(bar, offset, size, write, "no such BAR or invalid size");
            return false;
        }
        if (!IsDecoding(bar, b))
        {
            BarAccessWhileDisabled(bar, offset, write);
            return false;
        }
        if (!b.TryFind(offset, size, out region, out rel) || (region is RegisterRegion r && !r.Accepts(rel, size)))
        {
            InvalidRegionAccess(bar, offset, size, write, region);
            return false;
        }
        return true;
    }

    // The fault paths below are kept out of line so that the hot path (TryResolve is inlined into BarRead/BarWrite)
    // does not carry their interpolated-string-handler locals, which the JIT zero-initialises in every prolog.

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void BarAccessWhileDisabled(int bar, ulong offset, bool write)
    {
        Counters.Increment(ref Counters.BarAccessesWhileDisabled);
        if (ShouldLog(GuestErrorKind.BarAccess, out int suppressed))
            WriteGuestError(suppressed, $"BAR {bar} {(write ? "write" : "read")} at 0x{offset:x} while the BAR is not decoding (Command register, power state or ROM enable)");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void InvalidRegionAccess(int bar, ulong offset, int size, bool write, BarRegion? region) =>
        InvalidBarAccess(bar, offset, size, write, region is null ? "outside every region" : $"not a valid access to '{region.Name}'");

    /// <summary>True when BAR <paramref name="bar"/> currently decodes: its space is enabled in the Command register, the function is in D0, and for the ROM its enable bit is set.</summary>
    public bool IsDecoding(int bar) => GetBar(bar) is { } b && IsDecoding(bar, b);

    private bool IsDecoding(int index, PciBar bar)
    {
        if (_powerState != PciPowerState.D0) return false;
        var command = (PciCommand)Config.Get16(PciHeader.Command);
        return bar.Kind switch
        {
            PciBarKind.Io => (command & PciCommand.IoSpace) != 0,
            PciBarKind.Rom => (command & PciCommand.MemorySpace) != 0 && (Config.Get32(PciHeader.RomAddress) & 1) != 0,
            _ => (command & PciCommand.MemorySpace) != 0,
        };
    }

    /// <summary>The base address currently programmed into BAR <paramref name="index"/> (0 if none).</summary>
    public ulong GetBarAddress(int index)
    {
        using var _ = SyncRoot.EnterScope();
        var bar = GetBar(index);
        if (bar is null) return 0;
        if (bar.Kind == PciBarKind.Rom) return Config.Get32(PciHeader.RomAddress) & bar.AddressMask;
        int reg = PciHeader.Bar0 + 4 * index;
        ulong raw = Config.Get32(reg);
        if (bar.Kind == PciBarKind.Memory64) raw |= (ulong)Config.Get32(reg + 4) << 32;
        return raw & bar.AddressMask;
    }

    /// <summary>
    /// Decodes an absolute bus address (memory or I/O space) against the BARs as the driver programmed them — the
    /// way a bus routes a transaction — giving the BAR and the offset inside it. Only decoding BARs match; an
    /// unprogrammed BAR (address 0) never matches.
    /// </summary>
    public bool TryDecode(ulong address, bool ioSpace, out int bar, out ulong offset)
    {
        using var _ = SyncRoot.EnterScope();
        for (int i = 0; i < _bars.Length; i++)
        {
            var b = _bars[i];
            if (b is null || (b.Kind == PciBarKind.Io) != ioSpace || !IsDecoding(i, b)) continue;
            ulong start = GetBarAddress(i);
            if (start != 0 && address >= start && address - start < b.Size)
            {
                bar = i;
                offset = address - start;
                return true;
            }
        }
        bar = -1;
        offset = 0;
        return false;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void InvalidBarAccess(int bar, ulong offset, int size, bool write, string why)
    {
        Counters.Increment(ref Counters.InvalidBarAccesses);
        if (ShouldLog(GuestErrorKind.BarAccess, out int suppressed))
            WriteGuestError(suppressed, $"invalid BAR {bar} {(write ? "write" : "read")} of {size} bytes at 0x{offset:x}: {why}");
    }
}
