namespace PciKit.VfioUser.Protocol;

/// <summary>vfio-user command numbers (header <c>cmd</c> field).</summary>
internal enum VfioUserCommand : ushort
{
    /// <summary>Version and capability negotiation.</summary>
    Version = 1,
    /// <summary>Client tells the server about guest memory.</summary>
    DmaMap = 2,
    /// <summary>Client withdraws guest memory.</summary>
    DmaUnmap = 3,
    /// <summary>Basic device information.</summary>
    DeviceGetInfo = 4,
    /// <summary>Information about one region.</summary>
    DeviceGetRegionInfo = 5,
    /// <summary>ioeventfds of a region.</summary>
    DeviceGetRegionIoFds = 6,
    /// <summary>Information about one IRQ index.</summary>
    DeviceGetIrqInfo = 7,
    /// <summary>Configure IRQ signalling.</summary>
    DeviceSetIrqs = 8,
    /// <summary>Read from a region.</summary>
    RegionRead = 9,
    /// <summary>Write to a region.</summary>
    RegionWrite = 10,
    /// <summary>Server reads client memory.</summary>
    DmaRead = 11,
    /// <summary>Server writes client memory.</summary>
    DmaWrite = 12,
    /// <summary>Reset the device.</summary>
    DeviceReset = 13,
    /// <summary>Dirty page tracking (deprecated in the spec).</summary>
    DirtyPages = 14,
    /// <summary>Several small region writes in one message.</summary>
    RegionWriteMulti = 15,
    /// <summary>Device feature get/set/probe.</summary>
    DeviceFeature = 16,
    /// <summary>Read migration data.</summary>
    MigDataRead = 17,
    /// <summary>Write migration data.</summary>
    MigDataWrite = 18,
}
