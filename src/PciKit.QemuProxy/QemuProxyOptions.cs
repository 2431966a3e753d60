using PciKit.Device;

namespace PciKit.QemuProxy;

/// <summary>Settings of a <see cref="QemuProxyDevice"/>.</summary>
public sealed record QemuProxyOptions
{
    /// <summary>Where protocol errors, unclaimed accesses and connection events are logged (default: the device's log).</summary>
    public IPciLog? Log { get; init; }

    /// <summary>How long a RAM resynchronisation waits for a device DMA still using an old mapping; after that the old mapping is left in place (leaked, logged) rather than unmapped under the copy.</summary>
    public TimeSpan DmaIdleTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>What a <see cref="QemuProxyDevice"/> saw. Read at any time; the counts only grow.</summary>
public sealed class QemuProxyCounters
{
    internal long Messages;
    internal long Malformed;
    internal long UnclaimedBarAccesses;
    internal long MemorySyncs;
    internal long IrqfdSignals;
    internal long DroppedMessageInterrupts;

    /// <summary>Messages received from QEMU.</summary>
    public long MessageCount => Volatile.Read(ref Messages);
    /// <summary>Messages refused as malformed (wrong size, fd count, unknown command, unmappable RAM section).</summary>
    public long MalformedCount => Volatile.Read(ref Malformed);
    /// <summary>BAR accesses at an address no decoding BAR claims (read all-ones, write dropped).</summary>
    public long UnclaimedBarAccessCount => Volatile.Read(ref UnclaimedBarAccesses);
    /// <summary>SYNC_SYSMEM messages applied (each replaces the whole guest RAM map).</summary>
    public long MemorySyncCount => Volatile.Read(ref MemorySyncs);
    /// <summary>Writes to QEMU's irqfd (INTx assertions, including re-assertions after a resample).</summary>
    public long IrqfdSignalCount => Volatile.Read(ref IrqfdSignals);
    /// <summary>MSI/MSI-X messages the device emitted that could not be delivered (the proxy protocol has no MSI).</summary>
    public long DroppedMessageInterruptCount => Volatile.Read(ref DroppedMessageInterrupts);
}
