using System.Numerics;
using System.Runtime.CompilerServices;
using PciKit.Config;
using PciKit.Device;

namespace PciKit.Driver;

/// <summary>
/// A driver's handle to one PCI function — PciKit's <c>IOPCIDevice</c>. The same driver code runs over every backend
/// (<see cref="IPciBackend"/>): the in-process host bus, a vfio-user client, later Linux sysfs/VFIO.
/// </summary>
/// <remarks>
/// <para>Session: <see cref="Open"/> claims the function exclusively; every access before it throws.
/// <see cref="Close"/> disables interrupts, turns off Bus Master and Memory/I/O decoding, unmaps this session's BAR
/// mappings and frees its DMA buffers.</para>
/// <para>Misuse (bad offsets, sizes, indices) throws <see cref="ArgumentException"/> subtypes or
/// <see cref="PciDriverException"/> with a message that says what to do; the device's own answers (all-ones on a
/// dead register) are returned as they are.</para>
/// <para>Thread-safety: accesses may come from any thread; the backend serialises them at the device. Session
/// management (<see cref="Open"/>, <see cref="Close"/>, <see cref="ConfigureInterrupts"/>) is not meant to race with itself.</para>
/// </remarks>
public sealed partial class PciFunction : IDisposable
{
    private readonly IPciBackend _backend;
    private readonly ulong[] _barSizes = new ulong[7];
    private readonly List<DmaBuffer> _dmaBuffers = [];
    private readonly List<PciMemoryMapping> _mappings = [];
    private readonly PciInterruptSet?[] _interrupts = new PciInterruptSet?[3];
    private bool _open;
    private bool _disposed;
    private int _configSize; // the backend's ConfigSpaceSize, read at Open: saves an interface call per access

    /// <summary>Wraps <paramref name="backend"/>; the function owns it and disposes it.</summary>
    public PciFunction(IPciBackend backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        _backend = backend;
    }

    /// <summary>The function's address.</summary>
    public PciAddress Address => _backend.Address;

    /// <summary>Which backend this session runs over.</summary>
    public string BackendDescription => _backend.Description;

    /// <summary>256 or 4096.</summary>
    public int ConfigSpaceSize => _backend.ConfigSpaceSize;

    /// <summary>True between <see cref="Open"/> and <see cref="Close"/>.</summary>
    public bool IsOpen => _open;

    /// <summary>Opens an exclusive session.</summary>
    public void Open()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_open) throw new PciDriverException($"The session to {Address} is already open.");
        _backend.Open();
        for (int i = 0; i < _barSizes.Length; i++) _barSizes[i] = _backend.GetBarSize(i);
        _configSize = _backend.ConfigSpaceSize;
        _open = true;
    }

    /// <summary>Closes the session: interrupts off, Bus Master and decoding off, mappings and DMA buffers released.</summary>
    public void Close()
    {
        if (!_open) return;
        for (int k = 0; k < _interrupts.Length; k++)
            if (_interrupts[k] is not null) DisableInterrupts((PciInterruptKind)k);
        ushort command = (ushort)ConfigRead16(PciHeader.Command);
        ConfigWrite16(PciHeader.Command, (ushort)(command & ~(ushort)(PciCommand.BusMaster | PciCommand.MemorySpace | PciCommand.IoSpace)));
        foreach (var m in _mappings.ToArray()) m.Dispose();
        _mappings.Clear();
        foreach (var b in _dmaBuffers.ToArray()) b.Dispose();
        _dmaBuffers.Clear();
        _open = false;
        _backend.Close();
    }

    /// <summary>Closes the session and releases the backend.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        Close();
        _disposed = true;
        _backend.Dispose();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EnsureOpen()
    {
        if (!_open) ThrowNotOpen();
    }

    private void ThrowNotOpen()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        throw new PciDriverException($"The session to {Address} is not open; call Open() first.");
    }

    // ------------------------------------------------------------------ configuration space

    /// <summary>Reads a configuration byte.</summary>
    public byte ConfigRead8(int offset) { CheckConfig(offset, 1); return (byte)_backend.ConfigRead(offset, 1); }
    /// <summary>Reads a configuration word (offset 2-byte aligned).</summary>
    public ushort ConfigRead16(int offset) { CheckConfig(offset, 2); return (ushort)_backend.ConfigRead(offset, 2); }
    /// <summary>Reads a configuration dword (offset 4-byte aligned).</summary>
    public uint ConfigRead32(int offset) { CheckConfig(offset, 4); return _backend.ConfigRead(offset, 4); }
    /// <summary>Writes a configuration byte.</summary>
    public void ConfigWrite8(int offset, byte value) { CheckConfig(offset, 1); _backend.ConfigWrite(offset, 1, value); }
    /// <summary>Writes a configuration word (offset 2-byte aligned).</summary>
    public void ConfigWrite16(int offset, ushort value) { CheckConfig(offset, 2); _backend.ConfigWrite(offset, 2, value); }
    /// <summary>Writes a configuration dword (offset 4-byte aligned).</summary>
    public void ConfigWrite32(int offset, uint value) { CheckConfig(offset, 4); _backend.ConfigWrite(offset, 4, value); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckConfig(int offset, int size)
    {
        EnsureOpen();
        if ((uint)offset > (uint)(_configSize - size) || (offset & (size - 1)) != 0) ThrowBadConfigOffset(offset, size);
    }

    private void ThrowBadConfigOffset(int offset, int size) =>
        throw new ArgumentOutOfRangeException(nameof(offset), offset,
            $"A {size}-byte configuration access must be {size}-byte aligned and inside the {ConfigSpaceSize}-byte space.");

    /// <summary>Sets or clears Command register bits (read-modify-write).</summary>
    public void SetCommand(PciCommand set, PciCommand clear = PciCommand.None)
    {
        ushort c = ConfigRead16(PciHeader.Command);
        ConfigWrite16(PciHeader.Command, (ushort)((c & ~(ushort)clear) | (ushort)set));
    }

    /// <summary>Turns Bus Master (DMA and MSI) on or off.</summary>
    public void SetBusMaster(bool enable) => SetCommand(enable ? PciCommand.BusMaster : 0, enable ? 0 : PciCommand.BusMaster);

    /// <summary>Turns memory and I/O decoding on (for the spaces the BARs use) or off.</summary>
    public void SetDecoding(bool enable)
    {
        var bits = PciCommand.None;
        for (int i = 0; i < 7; i++)
        {
            var info = GetBarInfo(i);
            if (info.IsImplemented) bits |= info.Kind == PciBarKind.Io ? PciCommand.IoSpace : PciCommand.MemorySpace;
        }
        SetCommand(enable ? bits : 0, enable ? 0 : bits);
    }

    /// <summary>
    /// Finds standard capability <paramref name="id"/>, starting after <paramref name="after"/> (0: from the start;
    /// pass a previous result to find the next one). Returns its offset, or 0 when there is none.
    /// </summary>
    public int FindCapability(byte id, int after = 0)
    {
        EnsureOpen();
        if ((ConfigRead16(PciHeader.Status) & (ushort)PciStatus.CapabilitiesList) == 0) return 0;
        int at = after == 0 ? ConfigRead8(PciHeader.CapabilitiesPointer) & 0xFC : ConfigRead8(after + 1) & 0xFC;
        for (int guard = 0; at >= PciHeader.End && guard < 48; guard++)
        {
            if (ConfigRead8(at) == id) return at;
            at = ConfigRead8(at + 1) & 0xFC;
        }
        return 0;
    }

    /// <summary>Finds standard capability <paramref name="id"/>; see <see cref="FindCapability(byte, int)"/>.</summary>
    public int FindCapability(PciCapabilityId id, int after = 0) => FindCapability((byte)id, after);

    /// <summary>
    /// Finds extended capability <paramref name="id"/> (4 KiB spaces only), starting after <paramref name="after"/>.
    /// Returns its offset, or 0 when there is none.
    /// </summary>
    public int FindExtendedCapability(ushort id, int after = 0)
    {
        EnsureOpen();
        if (ConfigSpaceSize < PciHeader.ExtendedSize) return 0;
        int at = after == 0 ? PciHeader.ConventionalSize : (int)(ConfigRead32(after) >> 20) & 0xFFC;
        for (int guard = 0; at >= PciHeader.ConventionalSize && guard < (PciHeader.ExtendedSize - PciHeader.ConventionalSize) / 4; guard++)
        {
            uint header = ConfigRead32(at);
            if (header == 0 || header == 0xFFFF_FFFF) return 0;
            if ((header & 0xFFFF) == id) return at;
            at = (int)(header >> 20) & 0xFFC;
        }
        return 0;
    }

    /// <summary>Finds extended capability <paramref name="id"/>.</summary>
    public int FindExtendedCapability(PciExtendedCapabilityId id, int after = 0) => FindExtendedCapability((ushort)id, after);

    // ------------------------------------------------------------------ reset

    /// <summary>
    /// Resets the function. <see cref="PciResetKind.FunctionLevel"/> initiates an FLR through the PCI Express
    /// capability when the function advertises it, otherwise asks the backend. Interrupt configuration is lost: call
    /// <see cref="ConfigureInterrupts"/> again afterwards.
    /// </summary>
    public void Reset(PciResetKind kind = PciResetKind.FunctionLevel)
    {
        EnsureOpen();
        for (int k = 0; k < _interrupts.Length; k++)
        {
            if (_interrupts[k] is null) continue;
            _backend.DetachInterrupts((PciInterruptKind)k);
            _interrupts[k] = null;
        }
        int express = kind == PciResetKind.FunctionLevel ? FindCapability(PciCapabilityId.PciExpress) : 0;
        if (express != 0 && (ConfigRead32(express + 4) & (1u << 28)) != 0)
        {
            ushort control = ConfigRead16(express + 8);
            ConfigWrite16(express + 8, (ushort)(control | 0x8000));
            return;
        }
        _backend.Reset(kind);
    }
}
