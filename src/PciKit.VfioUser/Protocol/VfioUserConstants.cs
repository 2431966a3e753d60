namespace PciKit.VfioUser.Protocol;

/// <summary>Region indices of a vfio-user PCI device.</summary>
internal static class VfioPciRegion
{
    /// <summary>BAR0; BARs 0–5 are indices 0–5.</summary>
    public const uint Bar0 = 0;
    /// <summary>BAR1.</summary>
    public const uint Bar1 = 1;
    /// <summary>BAR2.</summary>
    public const uint Bar2 = 2;
    /// <summary>BAR3.</summary>
    public const uint Bar3 = 3;
    /// <summary>BAR4.</summary>
    public const uint Bar4 = 4;
    /// <summary>BAR5.</summary>
    public const uint Bar5 = 5;
    /// <summary>Expansion ROM.</summary>
    public const uint Rom = 6;
    /// <summary>Configuration space.</summary>
    public const uint Config = 7;
    /// <summary>Legacy VGA.</summary>
    public const uint Vga = 8;
    /// <summary>Number of regions a PCI device reports.</summary>
    public const uint Count = 9;
}

/// <summary>Region-info flags (<c>VFIO_REGION_INFO_FLAG_*</c>).</summary>
[Flags]
internal enum VfioRegionInfoFlags : uint
{
    /// <summary>No flags.</summary>
    None = 0,
    /// <summary>Client may read.</summary>
    Read = 1,
    /// <summary>Client may write.</summary>
    Write = 2,
    /// <summary>Client may mmap (reply carries an fd).</summary>
    Mmap = 4,
    /// <summary>A capability chain follows.</summary>
    Caps = 8,
}

/// <summary>Region-info capability ids.</summary>
internal static class VfioRegionCapability
{
    /// <summary><c>VFIO_REGION_INFO_CAP_SPARSE_MMAP</c>.</summary>
    public const ushort SparseMmap = 1;
}

/// <summary>IRQ indices of a vfio-user PCI device.</summary>
internal static class VfioPciIrq
{
    /// <summary>Legacy INTx.</summary>
    public const uint Intx = 0;
    /// <summary>MSI.</summary>
    public const uint Msi = 1;
    /// <summary>MSI-X.</summary>
    public const uint MsiX = 2;
    /// <summary>Error (AER).</summary>
    public const uint Err = 3;
    /// <summary>Device request.</summary>
    public const uint Req = 4;
    /// <summary>Number of IRQ indices a PCI device reports.</summary>
    public const uint Count = 5;
}

/// <summary>IRQ-info flags (<c>VFIO_IRQ_INFO_*</c>).</summary>
[Flags]
internal enum VfioIrqInfoFlags : uint
{
    /// <summary>No flags.</summary>
    None = 0,
    /// <summary>Signalled through eventfds.</summary>
    EventFd = 1,
    /// <summary>Can be masked.</summary>
    Maskable = 2,
    /// <summary>Masked automatically when it fires.</summary>
    AutoMasked = 4,
    /// <summary>Vector count cannot be resized.</summary>
    NoResize = 8,
}

/// <summary>Device-info flags (<c>VFIO_DEVICE_FLAGS_*</c>).</summary>
[Flags]
internal enum VfioDeviceInfoFlags : uint
{
    /// <summary>No flags.</summary>
    None = 0,
    /// <summary>Device supports DEVICE_RESET.</summary>
    Reset = 1,
    /// <summary>Device is a PCI device.</summary>
    Pci = 2,
}
