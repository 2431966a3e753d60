using PciKit.Capabilities;
using PciKit.Config;

namespace PciKit.Devices.Virtio;

/// <summary>
/// A virtio structure capability (vendor-specific, ID 0x09; virtio 1.2, 4.1.4): cfg_type, BAR, offset and length of
/// a structure inside a BAR; the notification capability adds notify_off_multiplier. Read-only.
/// </summary>
internal sealed class VirtioPciCapability : PciCapability
{
    private readonly VirtioPciCapType _type;
    private readonly byte _bar;
    private readonly uint _offset, _length;
    private readonly uint? _notifyMultiplier;

    public VirtioPciCapability(VirtioPciCapType type, int bar, ulong offset, ulong length, uint? notifyMultiplier = null)
    {
        _type = type;
        _bar = (byte)bar;
        _offset = (uint)offset;
        _length = (uint)length;
        _notifyMultiplier = notifyMultiplier;
    }

    public override byte Id => (byte)PciCapabilityId.VendorSpecific;

    public override int Length => _notifyMultiplier is null ? 16 : 20;

    protected override void Initialize()
    {
        Set8(2, (byte)Length);
        Set8(3, (byte)_type);
        Set8(4, _bar);
        Set32(8, _offset);
        Set32(12, _length);
        if (_notifyMultiplier is { } m) Set32(16, m);
    }
}

/// <summary>
/// VIRTIO_PCI_CAP_PCI_CFG (virtio 1.2, 4.1.4.9): an alternative access path to the device's BAR structures through
/// configuration space, for firmware that cannot map BARs. The driver writes bar, offset and length; a write to
/// pci_cfg_data writes that many bytes to the BAR, a read of pci_cfg_data reads them first.
/// </summary>
internal sealed class VirtioPciCfgCapability : PciCapability
{
    private const int BarReg = 4, OffsetReg = 8, LengthReg = 12, DataReg = 16;

    public override byte Id => (byte)PciCapabilityId.VendorSpecific;

    public override int Length => 20;

    protected override bool ObservesReads => true;

    protected override void Initialize()
    {
        Set8(2, (byte)Length);
        Set8(3, (byte)VirtioPciCapType.PciCfg);
        Writable(BarReg, 1, 0xFF);
        Writable(OffsetReg, 4, 0xFFFF_FFFF);
        Writable(LengthReg, 4, 0xFFFF_FFFF);
        Writable(DataReg, 4, 0xFFFF_FFFF);
    }

    public override void OnConfigWrite(int offset, int size, uint value)
    {
        if (!Touches(offset, size, DataReg, 4)) return;
        if (Window(out int bar, out uint at, out int length))
            ((VirtioPciDevice)Device).WindowWrite(bar, at, length, Get32(DataReg));
    }

    protected override void OnConfigRead(int offset, int size)
    {
        if (!Touches(offset, size, DataReg, 4)) return;
        if (Window(out int bar, out uint at, out int length))
            Set32(DataReg, (uint)((VirtioPciDevice)Device).WindowRead(bar, at, length));
    }

    private bool Window(out int bar, out uint offset, out int length)
    {
        bar = Get8(BarReg);
        offset = Get32(OffsetReg);
        uint len = Get32(LengthReg);
        length = (int)len;
        if (len is 1 or 2 or 4 && offset % len == 0) return true;
        ((VirtioPciDevice)Device).ReportGuestFault($"PCI configuration access window of length {len} at offset 0x{offset:x} (lengths are 1, 2 or 4, aligned)");
        return false;
    }
}
