using PciKit.Config;
using PciKit.Device;

namespace PciKit.Devices.Pvpanic;

/// <summary>
/// The pvpanic PCI device's identity and register (QEMU's <c>pvpanic-pci</c>, 1b36:0011; QEMU
/// <c>docs/specs/pvpanic.rst</c>): one byte-wide register in a 32-bit memory BAR. Reading it returns the events the
/// device supports (bit 0 PANICKED, bit 1 CRASH_LOADED, bit 2 SHUTDOWN); the guest writes an event bit to report
/// it. Linux's stock <c>pvpanic-pci</c> driver binds to it by its ID table. The model records what the guest did.
/// </summary>
public sealed class PvpanicDevice : PciDevice
{
    /// <summary>Event: the guest panicked.</summary>
    public const byte Panicked = 1 << 0;
    /// <summary>Event: a crash kernel is loaded.</summary>
    public const byte CrashLoaded = 1 << 1;
    /// <summary>Event: the guest shut down.</summary>
    public const byte Shutdown = 1 << 2;

    private long _reads, _writes;
    private byte _lastEvent;

    /// <summary>Creates the device advertising <paramref name="supportedEvents"/>.</summary>
    public PvpanicDevice(byte supportedEvents = Panicked | CrashLoaded)
        : base(new PciIdentity
        {
            VendorId = 0x1b36,
            DeviceId = 0x0011,
            Revision = 0x01,
            ClassCode = 0x088000, // system peripheral, other
            SubsystemVendorId = 0x1af4,
            SubsystemId = 0x1100,
        })
    {
        SupportedEvents = supportedEvents;
        DefineBar(0, PciBar.Memory32(16).Add(0, new RegisterRegion("pvpanic", 16, Read, Write, AccessSizes.Any)));
        Realize();
    }

    /// <inheritdoc />
    public override string Name => "pvpanic";

    /// <summary>Events the register reports as supported.</summary>
    public byte SupportedEvents { get; }

    /// <summary>Reads of the register (a driver reads it when it binds).</summary>
    public long RegisterReads => Interlocked.Read(ref _reads);

    /// <summary>Writes of the register (events reported).</summary>
    public long RegisterWrites => Interlocked.Read(ref _writes);

    /// <summary>The last event written.</summary>
    public byte LastEvent => _lastEvent;

    private ulong Read(ulong offset, int size)
    {
        Interlocked.Increment(ref _reads);
        return offset == 0 ? SupportedEvents : 0UL;
    }

    private void Write(ulong offset, int size, ulong value)
    {
        if (offset != 0) return;
        Interlocked.Increment(ref _writes);
        _lastEvent = (byte)value;
        LogGuestError($"guest reported pvpanic event 0x{value:x2}");
    }
}
