using PciKit.Config;
using PciKit.Device;

namespace PciKit.Capabilities;

/// <summary>
/// What standard and extended capabilities share: installation at an offset of a device's configuration space,
/// write notifications and reset. The device installs capabilities when it is realized.
/// </summary>
public abstract class ConfigCapability : IConfigWriteObserver
{
    private PciDevice? _device;

    /// <summary>Length in bytes, header included.</summary>
    public abstract int Length { get; }

    /// <summary>Offset in configuration space, assigned when the device is realized (-1 before).</summary>
    public int Offset { get; private set; } = -1;

    /// <summary>The device that holds this capability.</summary>
    protected PciDevice Device => _device ?? throw new InvalidOperationException("The capability is not installed in a device yet.");

    /// <summary>The configuration space of the device.</summary>
    protected ConfigSpace Config => Device.Config;

    internal void Install(PciDevice device, int offset)
    {
        if (_device is not null) throw new PciDefinitionException($"{GetType().Name} is already installed in a device; create one capability object per device.");
        _device = device;
        Offset = offset;
        Initialize();
    }

    /// <summary>Writes the power-on register values and masks (the device has written the list header).</summary>
    protected abstract void Initialize();

    /// <summary>Called under the device lock after a driver write touched this capability.</summary>
    public virtual void OnConfigWrite(int offset, int size, uint value) { }

    /// <summary>Called under the device lock after the configuration space was restored to its power-on state.</summary>
    protected internal virtual void OnReset() { }

    /// <summary>
    /// True when some bytes of the capability mirror state held elsewhere (a window onto a BAR, as virtio's PCI
    /// configuration access capability is), so the device calls <see cref="OnConfigRead"/> before a driver read that
    /// touches the capability. False by default: configuration reads stay a plain copy.
    /// </summary>
    protected internal virtual bool ObservesReads => false;

    /// <summary>Called under the device lock before a driver read touching this capability is served (only when <see cref="ObservesReads"/>); refresh mirrored bytes here with the <c>Set*</c> methods.</summary>
    protected internal virtual void OnConfigRead(int offset, int size) { }
}

/// <summary>
/// A capability in the standard list (0x40–0xFF). Subclasses declare their ID and length and write their power-on
/// registers and write masks in <c>Initialize</c>; every byte not made writable there is read-only.
/// The ID and next-pointer bytes are written by the device when it links the list.
/// </summary>
public abstract class PciCapability : ConfigCapability
{
    /// <summary>The capability ID.</summary>
    public abstract byte Id { get; }

    /// <summary>Called once when the device is realized, after every capability is installed (e.g. to place BAR regions).</summary>
    protected internal virtual void OnRealized() { }

    /// <summary>True when a write [<paramref name="offset"/>, +<paramref name="size"/>) touches the register at relative offset <paramref name="rel"/> of <paramref name="width"/> bytes.</summary>
    protected bool Touches(int offset, int size, int rel, int width) => offset < Offset + rel + width && offset + size > Offset + rel;

    /// <summary>Reads a byte at a relative offset.</summary>
    protected byte Get8(int rel) => Config.Get8(Offset + rel);
    /// <summary>Reads a 16-bit register at a relative offset.</summary>
    protected ushort Get16(int rel) => Config.Get16(Offset + rel);
    /// <summary>Reads a 32-bit register at a relative offset.</summary>
    protected uint Get32(int rel) => Config.Get32(Offset + rel);
    /// <summary>Sets a byte at a relative offset (bypassing masks).</summary>
    protected void Set8(int rel, byte value) => Config.Set8(Offset + rel, value);
    /// <summary>Sets a 16-bit register at a relative offset (bypassing masks).</summary>
    protected void Set16(int rel, ushort value) => Config.Set16(Offset + rel, value);
    /// <summary>Sets a 32-bit register at a relative offset (bypassing masks).</summary>
    protected void Set32(int rel, uint value) => Config.Set32(Offset + rel, value);
    /// <summary>Makes bits writable at a relative offset.</summary>
    protected void Writable(int rel, int width, ulong mask) => Config.SetWriteMask(Offset + rel, width, mask);
    /// <summary>Makes bits write-1-to-clear at a relative offset.</summary>
    protected void WriteOneToClear(int rel, int width, ulong mask) => Config.SetWriteOneToClearMask(Offset + rel, width, mask);
}

/// <summary>
/// An extended capability (from 0x100 in a 4 KiB space): a 32-bit header of ID, version and next offset, then data.
/// </summary>
public abstract class PciExtendedCapability : ConfigCapability
{
    /// <summary>The extended capability ID.</summary>
    public abstract ushort Id { get; }

    /// <summary>Capability version (4 bits).</summary>
    public abstract byte Version { get; }
}
