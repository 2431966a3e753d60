using PciKit.Capabilities;
using PciKit.Config;
using PciKit.Device;
using PciKit.Memory;

namespace PciKit.Devices.Sample;

/// <summary>
/// A PCI Express endpoint that uses every part of the model, for exploring drivers and lspci output:
/// BAR0 32-bit registers with the MSI-X table (0x1000) and PBA (0x1800), BAR1 I/O registers, BAR2 64-bit
/// prefetchable RAM that drivers map, an expansion ROM; Power Management, MSI (4 vectors, per-vector masking),
/// MSI-X (8 vectors), PCI Express with FLR, a vendor-specific capability, and a Device Serial Number.
/// </summary>
/// <remarks>
/// Registers (BAR0, 4-byte): 0x00 magic 0x5043494B ("PCIK", RO), 0x04 scratch (RW), 0x08 doorbell (WO: writing n
/// signals MSI-X vector n when MSI-X is on, else MSI vector n, else asserts INTx), 0x0C INTx acknowledge (WO).
/// BAR1 (I/O, 1- to 4-byte): 0x0 scratch byte-addressable.
/// </remarks>
public sealed class SampleDevice : PciDevice
{
    /// <summary>Vendor ID (Red Hat's QEMU range).</summary>
    public const ushort VendorId = 0x1b36;
    /// <summary>Device ID (outside the IDs QEMU assigns).</summary>
    public const ushort DeviceId = 0x00fe;
    /// <summary>Magic value at BAR0 offset 0.</summary>
    public const uint Magic = 0x5043494B;
    /// <summary>Size of the RAM behind BAR2.</summary>
    public const ulong RamSize = 1 << 20;

    private readonly MemoryBlock _ram;
    private readonly byte[] _io = new byte[16];
    private uint _scratch;

    /// <summary>Creates the device; its RAM BAR comes from <paramref name="memory"/> (process memory by default; shared memory makes it mmap-able over vfio-user).</summary>
    public SampleDevice(ulong serialNumber = 0x0011_2233_4455_6677, IMemoryAllocator? memory = null)
        : base(new PciIdentity
        {
            VendorId = VendorId,
            DeviceId = DeviceId,
            Revision = 0x01,
            ClassCode = 0x058000, // memory controller, other
            SubsystemVendorId = VendorId,
            SubsystemId = 0x0001,
            InterruptPin = PciInterruptPin.IntA,
        })
    {
        _ram = (memory ?? HeapMemoryAllocator.Instance).Allocate("pcikit-sample-ram", RamSize);
        DefineBar(0, PciBar.Memory32(0x2000).Add(0, new RegisterRegion("sample-regs", 0x10, ReadRegister, WriteRegister, AccessSizes.Dword)));
        DefineBar(1, PciBar.Io(16).Add(0, new RegisterRegion("sample-io", 16, ReadIo, WriteIo, AccessSizes.Byte | AccessSizes.Word | AccessSizes.Dword)));
        DefineBar(2, PciBar.Memory64(RamSize, prefetchable: true).Add(0, new MemoryRegion("sample-ram", _ram)));
        DefineBar(RomIndex, PciBar.Rom(0x800, [0x55, 0xAA, 0x01]));
        AddCapability(new PowerManagementCapability());
        AddCapability(new MsiCapability(vectors: 4, is64Bit: true, perVectorMask: true));
        AddCapability(new MsiXCapability(vectors: 8, tableBar: 0, tableOffset: 0x1000, pbaBar: 0, pbaOffset: 0x1800));
        AddCapability(new PciExpressCapability(functionLevelReset: true));
        AddCapability(new VendorSpecificCapability([0x50, 0x4B, 0x01, 0x00]));
        AddExtendedCapability(new DeviceSerialNumberCapability(serialNumber));
        Realize();
    }

    /// <inheritdoc />
    public override string Name => "sample";

    private ulong ReadRegister(ulong offset, int size) => offset switch
    {
        0x00 => Magic,
        0x04 => _scratch,
        _ => 0,
    };

    private void WriteRegister(ulong offset, int size, ulong value)
    {
        switch (offset)
        {
            case 0x04: _scratch = (uint)value; break;
            case 0x08:
                int vector = (int)value;
                if (Interrupts.MsiXEnabled) Interrupts.SignalMsiX(vector);
                else if (Interrupts.MsiEnabled) Interrupts.SignalMsi(vector);
                else Interrupts.SetIntx(true);
                break;
            case 0x0C: Interrupts.SetIntx(false); break;
        }
    }

    private ulong ReadIo(ulong offset, int size)
    {
        ulong v = 0;
        for (int i = 0; i < size; i++) v |= (ulong)_io[(int)offset + i] << (8 * i);
        return v;
    }

    private void WriteIo(ulong offset, int size, ulong value)
    {
        for (int i = 0; i < size; i++) _io[(int)offset + i] = (byte)(value >> (8 * i));
    }

    /// <inheritdoc />
    protected override void OnReset(PciResetKind kind)
    {
        _scratch = 0;
        Array.Clear(_io);
        _ram.GetSpan(0, (int)RamSize).Clear();
    }
}
