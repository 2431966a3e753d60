using System.Numerics;
using PciKit.Config;
using PciKit.Device;

namespace PciKit.Driver;

public sealed partial class PciFunction
{
    /// <summary>
    /// Enables <paramref name="count"/> vectors of <paramref name="kind"/> and returns them to await or subscribe to
    /// (PCIDriverKit's ConfigureInterrupts + IOInterruptDispatchSource). INTx takes one vector and clears Interrupt
    /// Disable; MSI takes a power of two up to what the capability offers; MSI-X up to its table size. The message
    /// addresses come from the backend and are programmed here, the same way on every backend. One kind at a time.
    /// Messages need Bus Master on (<see cref="SetBusMaster"/>).
    /// </summary>
    public PciInterruptSet ConfigureInterrupts(PciInterruptKind kind, int count = 1)
    {
        EnsureOpen();
        if ((uint)kind > (uint)PciInterruptKind.MsiX) throw new ArgumentOutOfRangeException(nameof(kind));
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "Ask for at least one vector.");
        for (int k = 0; k < _interrupts.Length; k++)
            if (_interrupts[k] is not null)
                throw new PciDriverException($"{(PciInterruptKind)k} interrupts are already configured; call DisableInterrupts({(PciInterruptKind)k}) first (one kind at a time, as on Linux).");
        var set = kind switch
        {
            PciInterruptKind.Intx => ConfigureIntx(count),
            PciInterruptKind.Msi => ConfigureMsi(count),
            _ => ConfigureMsiX(count),
        };
        _interrupts[(int)kind] = set;
        return set;
    }

    /// <summary>Disables <paramref name="kind"/> in the device and stops routing it.</summary>
    public void DisableInterrupts(PciInterruptKind kind)
    {
        EnsureOpen();
        if ((uint)kind > (uint)PciInterruptKind.MsiX || _interrupts[(int)kind] is null) return;
        switch (kind)
        {
            case PciInterruptKind.Intx:
                SetCommand(PciCommand.InterruptDisable);
                break;
            case PciInterruptKind.Msi:
                int msi = FindCapability(PciCapabilityId.Msi);
                if (msi != 0) ConfigWrite16(msi + 2, (ushort)(ConfigRead16(msi + 2) & ~1));
                break;
            case PciInterruptKind.MsiX:
                int msix = FindCapability(PciCapabilityId.MsiX);
                if (msix != 0) ConfigWrite16(msix + 2, (ushort)(ConfigRead16(msix + 2) & ~0x8000));
                break;
        }
        _backend.DetachInterrupts(kind);
        _interrupts[(int)kind] = null;
    }

    private PciInterruptSet ConfigureIntx(int count)
    {
        if (count != 1) throw new ArgumentOutOfRangeException(nameof(count), count, "INTx has exactly one vector.");
        if (ConfigRead8(PciHeader.InterruptPin) == 0) throw new PciDriverException($"{Address} has no interrupt pin (Interrupt Pin register is 0); use MSI or MSI-X.");
        var set = new PciInterruptSet(PciInterruptKind.Intx, 1);
        _backend.AttachInterrupts(PciInterruptKind.Intx, 1, set);
        SetCommand(PciCommand.None, PciCommand.InterruptDisable);
        return set;
    }

    private PciInterruptSet ConfigureMsi(int count)
    {
        int cap = FindCapability(PciCapabilityId.Msi);
        if (cap == 0) throw new PciDriverException($"{Address} has no MSI capability; use INTx or MSI-X.");
        ushort control = ConfigRead16(cap + 2);
        int capable = 1 << ((control >> 1) & 7);
        if (!BitOperations.IsPow2(count) || count > capable)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"MSI vectors come in powers of two; {Address} offers up to {capable}.");
        bool is64 = (control & 0x80) != 0, maskable = (control & 0x100) != 0;
        var set = new PciInterruptSet(PciInterruptKind.Msi, count);
        var messages = _backend.AttachInterrupts(PciInterruptKind.Msi, count, set);
        if (messages.Count > 0)
        {
            var m = messages[0];
            if (!is64 && m.Address > uint.MaxValue) throw new PciDriverException("The backend gave a 64-bit MSI address to a 32-bit-only MSI capability.");
            ConfigWrite32(cap + 4, (uint)m.Address);
            if (is64) ConfigWrite32(cap + 8, (uint)(m.Address >> 32));
            ConfigWrite16(cap + (is64 ? 0xC : 0x8), (ushort)m.Data);
            if (maskable) ConfigWrite32(cap + (is64 ? 0x10 : 0xC), 0);
            int mme = BitOperations.Log2((uint)count);
            ConfigWrite16(cap + 2, (ushort)((control & ~0x70) | (mme << 4) | 1));
            SetCommand(PciCommand.InterruptDisable);
        }
        return set;
    }

    private PciInterruptSet ConfigureMsiX(int count)
    {
        int cap = FindCapability(PciCapabilityId.MsiX);
        if (cap == 0) throw new PciDriverException($"{Address} has no MSI-X capability; use INTx or MSI.");
        ushort control = ConfigRead16(cap + 2);
        int tableSize = (control & 0x7FF) + 1;
        if (count > tableSize) throw new ArgumentOutOfRangeException(nameof(count), count, $"{Address}'s MSI-X table has {tableSize} entries.");
        uint table = ConfigRead32(cap + 4);
        int bir = (int)(table & 7);
        ulong tableOffset = table & ~7u;
        var set = new PciInterruptSet(PciInterruptKind.MsiX, count);
        var messages = _backend.AttachInterrupts(PciInterruptKind.MsiX, count, set);
        if (messages.Count > 0)
        {
            if (messages.Count < count) throw new PciDriverException($"The backend routed {messages.Count} of {count} MSI-X vectors.");
            SetCommand(PciCommand.MemorySpace | PciCommand.InterruptDisable);
            // Enable with the function masked, program and unmask the entries, then drop the function mask (as Linux does).
            ConfigWrite16(cap + 2, (ushort)(control | 0x8000 | 0x4000));
            for (int i = 0; i < count; i++)
            {
                ulong entry = tableOffset + (ulong)i * 16;
                MemoryWrite32(bir, entry, (uint)messages[i].Address);
                MemoryWrite32(bir, entry + 4, (uint)(messages[i].Address >> 32));
                MemoryWrite32(bir, entry + 8, messages[i].Data);
                MemoryWrite32(bir, entry + 12, 0);
            }
            ConfigWrite16(cap + 2, (ushort)((control | 0x8000) & ~0x4000));
        }
        return set;
    }
}
