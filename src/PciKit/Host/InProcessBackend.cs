using PciKit.Device;
using PciKit.Driver;

namespace PciKit.Host;

/// <summary>The driver-API backend for a device on a <see cref="PciHostBus"/>: direct calls into the device model.</summary>
internal sealed class InProcessBackend(PciHostBus bus, PciHostBus.Slot slot) : IPciBackend
{
    private readonly PciDevice _device = slot.Device;
    private bool _claimed;

    public PciAddress Address => slot.Address;
    public string Description => "in-process";
    public int ConfigSpaceSize => _device.Config.Size;

    public void Open()
    {
        if (!slot.TryClaim()) throw new PciDriverException($"{Address} is already open in another session; close that session first.");
        _claimed = true;
    }

    public void Close()
    {
        if (!_claimed) return;
        _claimed = false;
        slot.Release();
    }

    public void Dispose() => Close();

    public uint ConfigRead(int offset, int size) => _device.ConfigRead(offset, size);
    public void ConfigWrite(int offset, int size, uint value) => _device.ConfigWrite(offset, size, value);
    public ulong GetBarSize(int index) => _device.GetBar(index)?.Size ?? 0;
    public ulong BarRead(int index, ulong offset, int size) => _device.BarRead(index, offset, size);
    public void BarWrite(int index, ulong offset, int size, ulong value) => _device.BarWrite(index, offset, size, value);

    public PciMemoryMapping? TryMapBar(int index, ulong offset, ulong length, out string? reason)
    {
        var bar = _device.GetBar(index);
        foreach (var (start, region) in bar?.Regions ?? [])
        {
            if (offset < start || offset - start >= region.Size) continue;
            if (region is not MemoryRegion memory) { reason = $"'{region.Name}' is a register region"; return null; }
            if (memory.ReadOnly) { reason = $"'{region.Name}' is read-only (a ROM); read it with MemoryRead"; return null; }
            if (length > region.Size - (offset - start)) { reason = $"the range runs past memory region '{region.Name}'"; return null; }
            reason = null;
            return new PciMemoryMapping(index, memory.Backing, offset - start, length, release: null);
        }
        reason = "no memory region covers that offset";
        return null;
    }

    public DmaBuffer AllocateDmaBuffer(ulong length, int addressBits)
    {
        var (memory, address) = bus.Memory.Allocate(length, addressBits);
        return new DmaBuffer(memory, address, b => bus.Memory.Free(b.DeviceAddress, b.Length));
    }

    public IReadOnlyList<MsiMessage> AttachInterrupts(PciInterruptKind kind, int count, IInterruptReceiver receiver) =>
        bus.Attach(slot, kind, count, receiver);

    public void DetachInterrupts(PciInterruptKind kind) => bus.Detach(slot, kind);

    public void Reset(PciResetKind kind) => _device.Reset(kind);
}
