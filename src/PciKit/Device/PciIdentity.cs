using PciKit.Config;

namespace PciKit.Device;

/// <summary>The identification part of a type 0 header, as data.</summary>
public sealed record PciIdentity
{
    /// <summary>Vendor ID (0xFFFF is invalid: it is what an empty slot reads).</summary>
    public required ushort VendorId { get; init; }
    /// <summary>Device ID.</summary>
    public required ushort DeviceId { get; init; }
    /// <summary>Revision ID.</summary>
    public byte Revision { get; init; }
    /// <summary>Class code, 24 bits: base class &lt;&lt; 16 | sub-class &lt;&lt; 8 | programming interface.</summary>
    public uint ClassCode { get; init; }
    /// <summary>Subsystem vendor ID.</summary>
    public ushort SubsystemVendorId { get; init; }
    /// <summary>Subsystem ID.</summary>
    public ushort SubsystemId { get; init; }
    /// <summary>INTx pin the function uses (None: no INTx).</summary>
    public PciInterruptPin InterruptPin { get; init; }
    /// <summary>Sets the multi-function bit of the header type.</summary>
    public bool MultiFunction { get; init; }

    internal void Validate()
    {
        if (VendorId == 0xFFFF) throw new PciDefinitionException("Vendor ID 0xFFFF means 'no device'; use your PCI-SIG vendor ID (or 0x1234/0x1b36 for experiments).");
        if (ClassCode > 0xFF_FFFF) throw new PciDefinitionException($"The class code is 24 bits (base, sub-class, prog-if); 0x{ClassCode:x} is wider.");
        if (InterruptPin > PciInterruptPin.IntD) throw new PciDefinitionException("The interrupt pin is None or INTA#–INTD#.");
    }
}

/// <summary>Kinds of reset.</summary>
public enum PciResetKind
{
    /// <summary>Conventional (bus/power-on) reset.</summary>
    Conventional,
    /// <summary>Function Level Reset (PCI Express).</summary>
    FunctionLevel,
    /// <summary>The soft reset of a D3hot → D0 transition without No_Soft_Reset.</summary>
    PowerManagement,
}
