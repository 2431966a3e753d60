namespace PciKit.Config;

/// <summary>Offsets of the type 0 configuration header (PCI Local Bus 3.0, section 6.1).</summary>
public static class PciHeader
{
    /// <summary>Vendor ID (16 bits, read-only).</summary>
    public const int VendorId = 0x00;
    /// <summary>Device ID (16 bits, read-only).</summary>
    public const int DeviceId = 0x02;
    /// <summary>Command register (16 bits).</summary>
    public const int Command = 0x04;
    /// <summary>Status register (16 bits).</summary>
    public const int Status = 0x06;
    /// <summary>Revision ID (8 bits).</summary>
    public const int RevisionId = 0x08;
    /// <summary>Programming interface (8 bits), the low byte of the class code.</summary>
    public const int ProgIf = 0x09;
    /// <summary>Sub-class (8 bits).</summary>
    public const int SubClass = 0x0A;
    /// <summary>Base class (8 bits).</summary>
    public const int BaseClass = 0x0B;
    /// <summary>Cache line size (8 bits, read-write).</summary>
    public const int CacheLineSize = 0x0C;
    /// <summary>Latency timer (8 bits).</summary>
    public const int LatencyTimer = 0x0D;
    /// <summary>Header type (8 bits); bit 7 is the multi-function bit.</summary>
    public const int HeaderType = 0x0E;
    /// <summary>BIST (8 bits).</summary>
    public const int Bist = 0x0F;
    /// <summary>Base address register 0; BAR n is at <c>Bar0 + 4 * n</c>.</summary>
    public const int Bar0 = 0x10;
    /// <summary>CardBus CIS pointer.</summary>
    public const int CardbusCis = 0x28;
    /// <summary>Subsystem vendor ID (16 bits).</summary>
    public const int SubsystemVendorId = 0x2C;
    /// <summary>Subsystem ID (16 bits).</summary>
    public const int SubsystemId = 0x2E;
    /// <summary>Expansion ROM base address.</summary>
    public const int RomAddress = 0x30;
    /// <summary>Capabilities pointer (8 bits).</summary>
    public const int CapabilitiesPointer = 0x34;
    /// <summary>Interrupt line (8 bits, read-write).</summary>
    public const int InterruptLine = 0x3C;
    /// <summary>Interrupt pin (8 bits, read-only): 0 none, 1–4 INTA#–INTD#.</summary>
    public const int InterruptPin = 0x3D;
    /// <summary>Min_Gnt.</summary>
    public const int MinGnt = 0x3E;
    /// <summary>Max_Lat.</summary>
    public const int MaxLat = 0x3F;
    /// <summary>First byte after the standard header: capabilities start here.</summary>
    public const int End = 0x40;
    /// <summary>Size of a conventional configuration space.</summary>
    public const int ConventionalSize = 256;
    /// <summary>Size of a PCI Express (extended) configuration space.</summary>
    public const int ExtendedSize = 4096;
    /// <summary>Header type bit that marks a multi-function device.</summary>
    public const byte MultiFunction = 0x80;
}

/// <summary>Bits of the Command register.</summary>
[Flags]
public enum PciCommand : ushort
{
    /// <summary>No bit.</summary>
    None = 0,
    /// <summary>I/O Space Enable.</summary>
    IoSpace = 0x0001,
    /// <summary>Memory Space Enable.</summary>
    MemorySpace = 0x0002,
    /// <summary>Bus Master Enable: the function may issue DMA and MSI.</summary>
    BusMaster = 0x0004,
    /// <summary>Special Cycles.</summary>
    SpecialCycles = 0x0008,
    /// <summary>Memory Write and Invalidate Enable.</summary>
    MemoryWriteInvalidate = 0x0010,
    /// <summary>VGA Palette Snoop.</summary>
    VgaPaletteSnoop = 0x0020,
    /// <summary>Parity Error Response.</summary>
    ParityErrorResponse = 0x0040,
    /// <summary>IDSEL stepping / wait cycle control (hardwired 0 in PCI 3.0).</summary>
    Stepping = 0x0080,
    /// <summary>SERR# Enable.</summary>
    SerrEnable = 0x0100,
    /// <summary>Fast Back-to-Back Enable.</summary>
    FastBackToBack = 0x0200,
    /// <summary>Interrupt Disable: the function must not assert INTx.</summary>
    InterruptDisable = 0x0400,
}

/// <summary>Bits of the Status register.</summary>
[Flags]
public enum PciStatus : ushort
{
    /// <summary>No bit.</summary>
    None = 0,
    /// <summary>Immediate Readiness.</summary>
    ImmediateReadiness = 0x0001,
    /// <summary>Interrupt Status (read-only): the function's INTx state, regardless of Interrupt Disable.</summary>
    InterruptStatus = 0x0008,
    /// <summary>Capabilities List (read-only).</summary>
    CapabilitiesList = 0x0010,
    /// <summary>66 MHz Capable.</summary>
    Capable66MHz = 0x0020,
    /// <summary>Fast Back-to-Back Capable.</summary>
    FastBackToBackCapable = 0x0080,
    /// <summary>Master Data Parity Error (write 1 to clear).</summary>
    MasterDataParityError = 0x0100,
    /// <summary>DEVSEL timing field (two bits, read-only).</summary>
    DevselTimingMask = 0x0600,
    /// <summary>Signaled Target Abort (write 1 to clear).</summary>
    SignaledTargetAbort = 0x0800,
    /// <summary>Received Target Abort (write 1 to clear).</summary>
    ReceivedTargetAbort = 0x1000,
    /// <summary>Received Master Abort (write 1 to clear).</summary>
    ReceivedMasterAbort = 0x2000,
    /// <summary>Signaled System Error (write 1 to clear).</summary>
    SignaledSystemError = 0x4000,
    /// <summary>Detected Parity Error (write 1 to clear).</summary>
    DetectedParityError = 0x8000,
    /// <summary>All error bits, which are write-1-to-clear.</summary>
    ErrorBits = MasterDataParityError | SignaledTargetAbort | ReceivedTargetAbort | ReceivedMasterAbort | SignaledSystemError | DetectedParityError,
}

/// <summary>Standard capability IDs (PCI Code and ID Assignment, chapter 2).</summary>
public enum PciCapabilityId : byte
{
    /// <summary>PCI Power Management.</summary>
    PowerManagement = 0x01,
    /// <summary>AGP.</summary>
    Agp = 0x02,
    /// <summary>Vital Product Data.</summary>
    Vpd = 0x03,
    /// <summary>Message Signalled Interrupts.</summary>
    Msi = 0x05,
    /// <summary>Vendor Specific.</summary>
    VendorSpecific = 0x09,
    /// <summary>PCI Express.</summary>
    PciExpress = 0x10,
    /// <summary>MSI-X.</summary>
    MsiX = 0x11,
}

/// <summary>Extended capability IDs (from offset 0x100 in a 4 KiB configuration space).</summary>
public enum PciExtendedCapabilityId : ushort
{
    /// <summary>Advanced Error Reporting.</summary>
    AdvancedErrorReporting = 0x0001,
    /// <summary>Device Serial Number.</summary>
    DeviceSerialNumber = 0x0003,
    /// <summary>Vendor-Specific Extended Capability.</summary>
    VendorSpecific = 0x000B,
}

/// <summary>The INTx pin a function uses.</summary>
public enum PciInterruptPin : byte
{
    /// <summary>No INTx pin.</summary>
    None = 0,
    /// <summary>INTA#.</summary>
    IntA = 1,
    /// <summary>INTB#.</summary>
    IntB = 2,
    /// <summary>INTC#.</summary>
    IntC = 3,
    /// <summary>INTD#.</summary>
    IntD = 4,
}
