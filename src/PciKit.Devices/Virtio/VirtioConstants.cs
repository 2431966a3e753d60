namespace PciKit.Devices.Virtio;

/// <summary>Device status bits (virtio 1.2, 2.1).</summary>
[Flags]
public enum VirtioStatus : byte
{
    /// <summary>Nothing set: the device is reset.</summary>
    None = 0,
    /// <summary>The guest noticed the device.</summary>
    Acknowledge = 1,
    /// <summary>The guest knows how to drive it.</summary>
    Driver = 2,
    /// <summary>The driver is set up and ready.</summary>
    DriverOk = 4,
    /// <summary>Feature negotiation is complete (cleared by the device when it refuses the driver's features).</summary>
    FeaturesOk = 8,
    /// <summary>The device hit an error it cannot recover from without a reset.</summary>
    DeviceNeedsReset = 0x40,
    /// <summary>The driver gave up on the device.</summary>
    Failed = 0x80,
}

/// <summary>Virtio device types (virtio 1.2, 5); the modern PCI device ID is 0x1040 + type.</summary>
public enum VirtioDeviceType : ushort
{
    /// <summary>Network card.</summary>
    Network = 1,
    /// <summary>Block device.</summary>
    Block = 2,
    /// <summary>Console.</summary>
    Console = 3,
    /// <summary>Entropy source.</summary>
    Entropy = 4,
}

/// <summary>Device-independent feature bits (virtio 1.2, 6).</summary>
public static class VirtioFeatures
{
    /// <summary>VIRTIO_F_INDIRECT_DESC: descriptors may point to indirect tables.</summary>
    public const int IndirectDesc = 28;
    /// <summary>VIRTIO_F_EVENT_IDX: used_event / avail_event notification suppression.</summary>
    public const int EventIdx = 29;
    /// <summary>VIRTIO_F_VERSION_1: virtio 1.x (modern) device; required by this transport.</summary>
    public const int Version1 = 32;
    /// <summary>VIRTIO_F_ACCESS_PLATFORM: the device's DMA goes through the platform (IOMMU) translation.</summary>
    public const int AccessPlatform = 33;
    /// <summary>VIRTIO_F_RING_PACKED (not offered: split virtqueues only).</summary>
    public const int RingPacked = 34;

    /// <summary>A feature bit as a mask.</summary>
    public static ulong Bit(int feature) => 1UL << feature;
}

/// <summary>virtio_pci_cap cfg_type values (virtio 1.2, 4.1.4).</summary>
internal enum VirtioPciCapType : byte
{
    CommonCfg = 1,
    NotifyCfg = 2,
    IsrCfg = 3,
    DeviceCfg = 4,
    PciCfg = 5,
}

/// <summary>Split virtqueue layout constants (virtio 1.2, 2.7).</summary>
internal static class Vring
{
    public const int DescriptorSize = 16;
    public const ushort DescNext = 1, DescWrite = 2, DescIndirect = 4;
    public const ushort AvailNoInterrupt = 1;
    public const ushort UsedNoNotify = 1;
    public const int UsedElemSize = 8;
    /// <summary>The largest split queue size (2.7).</summary>
    public const int MaxQueueSize = 32768;

    /// <summary>vring_need_event: true when <paramref name="newIdx"/> moved past <paramref name="eventIdx"/> since <paramref name="oldIdx"/>.</summary>
    public static bool NeedEvent(ushort eventIdx, ushort newIdx, ushort oldIdx) => (ushort)(newIdx - eventIdx - 1) < (ushort)(newIdx - oldIdx);
}
