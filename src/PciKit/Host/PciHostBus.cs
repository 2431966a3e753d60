using PciKit.Config;
using PciKit.Device;
using PciKit.Driver;

namespace PciKit.Host;

/// <summary>
/// A small in-process PCI host: one bus of 32 slots, firmware-style BAR assignment, an interrupt controller that
/// routes INTx and MSI/MSI-X messages to drivers' vectors, and host RAM for DMA. Drivers reach devices through
/// <see cref="GetFunction"/>, the same <see cref="PciFunction"/> API they use over vfio-user or VFIO.
/// </summary>
public sealed partial class PciHostBus : IDisposable
{
    /// <summary>Base of the MSI address window (x86 LAPIC range); messages elsewhere are not interrupts.</summary>
    public const ulong MsiAddressBase = 0xFEE0_0000;
    private const ulong MsiWindowSize = 0x10_0000;

    private readonly Slot?[] _slots = new Slot?[32];
    private readonly Lock _lock = new();
    private readonly MsiRouter _msi = new();
    private ulong _mmio32 = 0xC000_0000, _mmio64 = 0x80_0000_0000, _io = 0xC000;
    private bool _disposed;

    /// <summary>Creates an empty bus.</summary>
    public PciHostBus(IPciLog? log = null) => Log = log ?? PciLog.Null;

    /// <summary>Where the bus logs (spurious interrupts, unclaimed accesses); devices get it too unless they have one.</summary>
    public IPciLog Log { get; }

    /// <summary>Host RAM that devices reach by DMA.</summary>
    public HostMemory Memory { get; } = new();

    /// <summary>MSI/MSI-X messages that matched no routed vector.</summary>
    public long SpuriousMessages => Volatile.Read(ref _msi.Spurious);

    /// <summary>
    /// Plugs <paramref name="device"/> into a slot (the first free one, or <paramref name="slot"/>), sizes and assigns
    /// its BARs like firmware (32-bit window from 0xC000_0000, 64-bit window from 0x80_0000_0000, I/O from 0xC000),
    /// sets its interrupt line, and connects its interrupts and DMA. Decoding stays off until a driver enables it.
    /// </summary>
    public PciAddress Attach(PciDevice device, int? slot = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!device.IsRealized) throw new PciDefinitionException($"{device.Name} is not realized; call Realize() in its constructor after defining BARs and capabilities.");
        using var _ = _lock.EnterScope();
        if (_slots.Any(s => s?.Device == device)) throw new InvalidOperationException($"{device.Name} is already attached to this bus.");
        int n = slot ?? Array.FindIndex(_slots, s => s is null);
        if (n < 0) throw new InvalidOperationException("All 32 slots of the bus are taken.");
        if ((uint)n > 31) throw new ArgumentOutOfRangeException(nameof(slot), slot, "Slots are 0–31.");
        if (_slots[n] is not null) throw new InvalidOperationException($"Slot {n} is taken by {_slots[n]!.Device.Name}.");
        var s = new Slot(this, new PciAddress(0, 0, n, 0), device);
        _slots[n] = s;
        if (ReferenceEquals(device.Log, PciLog.Null)) device.Log = Log;
        AssignResources(device, n);
        device.Connect(s, Memory.AddressSpace);
        return s.Address;
    }

    /// <summary>Unplugs the device at <paramref name="address"/>; its open sessions stop working.</summary>
    public void Detach(PciAddress address)
    {
        using var _ = _lock.EnterScope();
        var s = FindSlot(address);
        s.Device.Disconnect();
        _msi.RemoveAll(s);
        _slots[address.Device] = null;
    }

    /// <summary>Enumerates the bus the way system software does: reads each slot's Vendor ID; 0xFFFF means empty.</summary>
    public IReadOnlyList<PciAddress> Enumerate()
    {
        var found = new List<PciAddress>();
        for (int d = 0; d < 32; d++)
        {
            var address = new PciAddress(0, 0, d, 0);
            if ((ushort)ConfigRead(address, PciHeader.VendorId, 2) != 0xFFFF) found.Add(address);
        }
        return found;
    }

    /// <summary>A root-complex configuration read: an empty slot reads all-ones.</summary>
    public uint ConfigRead(PciAddress address, int offset, int size)
    {
        var s = address.Domain == 0 && address.Bus == 0 && address.Function == 0 ? _slots[address.Device] : null;
        if (s is null) return size >= 4 ? 0xFFFF_FFFF : (1u << (8 * size)) - 1;
        return s.Device.ConfigRead(offset, size);
    }

    /// <summary>A root-complex configuration write; writes to an empty slot are dropped.</summary>
    public void ConfigWrite(PciAddress address, int offset, int size, uint value)
    {
        var s = address.Domain == 0 && address.Bus == 0 && address.Function == 0 ? _slots[address.Device] : null;
        s?.Device.ConfigWrite(offset, size, value);
    }

    /// <summary>The device model at <paramref name="address"/>.</summary>
    public PciDevice GetDevice(PciAddress address) => FindSlot(address).Device;

    /// <summary>
    /// A driver handle for the function at <paramref name="address"/>; call <see cref="PciFunction.Open"/> on it.
    /// </summary>
    public PciFunction GetFunction(PciAddress address) => new(new InProcessBackend(this, FindSlot(address)));

    /// <summary>A CPU read of physical address <paramref name="address"/>, decoded against every device's programmed BARs; unclaimed reads all-ones.</summary>
    public ulong MemoryRead(ulong address, int size)
    {
        foreach (var s in _slots)
            if (s is not null && s.Device.TryDecode(address, ioSpace: false, out int bar, out ulong offset))
                return s.Device.BarRead(bar, offset, size);
        return PciDevice.AllOnes(size);
    }

    /// <summary>A CPU write to physical address <paramref name="address"/>; unclaimed writes are dropped.</summary>
    public void MemoryWrite(ulong address, int size, ulong value)
    {
        foreach (var s in _slots)
            if (s is not null && s.Device.TryDecode(address, ioSpace: false, out int bar, out ulong offset))
            {
                s.Device.BarWrite(bar, offset, size, value);
                return;
            }
    }

    private Slot FindSlot(PciAddress address)
    {
        var s = address.Domain == 0 && address.Bus == 0 && address.Function == 0 ? _slots[address.Device] : null;
        return s ?? throw new PciDriverException($"No device at {address}; see Enumerate() for the devices on this bus.");
    }

    private void AssignResources(PciDevice device, int slot)
    {
        for (int i = 0; i <= PciDevice.RomIndex; i++)
        {
            var bar = device.GetBar(i);
            if (bar is null) continue;
            int reg = i == PciDevice.RomIndex ? PciHeader.RomAddress : PciHeader.Bar0 + 4 * i;
            // Size the BAR the way firmware does: write all-ones, read the mask back, restore.
            device.ConfigWrite(reg, 4, 0xFFFF_FFFF);
            uint low = device.ConfigRead(reg, 4);
            ulong mask = i == PciDevice.RomIndex ? low & 0xFFFF_F800 : (low & 1) != 0 ? low & 0xFFFF_FFFC : low & 0xFFFF_FFF0;
            bool is64 = i != PciDevice.RomIndex && (low & 7) == 4;
            if (is64)
            {
                device.ConfigWrite(reg + 4, 4, 0xFFFF_FFFF);
                mask |= (ulong)device.ConfigRead(reg + 4, 4) << 32;
            }
            else mask |= 0xFFFF_FFFF_0000_0000;
            ulong size = ~mask + 1;
            ulong address = (low & 1) != 0 && i != PciDevice.RomIndex ? Take(ref _io, size, 0x1_0000)
                : is64 ? Take(ref _mmio64, size, 0x90_0000_0000) : Take(ref _mmio32, size, 0xFEC0_0000);
            device.ConfigWrite(reg, 4, (uint)address);
            if (is64) device.ConfigWrite(reg + 4, 4, (uint)(address >> 32));
        }
        if (device.Identity.InterruptPin != PciInterruptPin.None) // firmware routes only functions that have a pin
            device.ConfigWrite(PciHeader.InterruptLine, 1, (uint)(10 + slot % 4));
    }

    private static ulong Take(ref ulong cursor, ulong size, ulong limit)
    {
        ulong at = (cursor + size - 1) & ~(size - 1);
        if (at + size > limit || at + size < at) throw new InvalidOperationException($"The host bus ran out of address space for a 0x{size:x}-byte BAR.");
        cursor = at + size;
        return at;
    }

    internal void DeliverMessage(Slot source, in MsiMessage message)
    {
        if (message.Address < MsiAddressBase || message.Address >= MsiAddressBase + MsiWindowSize || !_msi.TryDeliver(message.Data))
        {
            Interlocked.Increment(ref _msi.Spurious);
            Log.Write(PciLogLevel.Warning, "host-bus", $"{source.Address}: message 0x{message.Address:x}/0x{message.Data:x} matches no routed vector");
        }
    }

    /// <summary>Detaches every device and frees host memory.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var s in _slots) s?.Device.Disconnect();
        Array.Clear(_slots);
        Memory.Dispose();
    }
}
