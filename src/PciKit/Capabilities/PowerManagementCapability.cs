using PciKit.Config;

namespace PciKit.Capabilities;

/// <summary>Device power states a function can be in.</summary>
public enum PciPowerState
{
    /// <summary>Fully on.</summary>
    D0 = 0,
    /// <summary>Light sleep (not supported by this model).</summary>
    D1 = 1,
    /// <summary>Deeper sleep (not supported by this model).</summary>
    D2 = 2,
    /// <summary>Off, configuration space still accessible; BARs do not decode.</summary>
    D3Hot = 3,
}

/// <summary>
/// PCI Power Management capability (ID 0x01, version 3; PCI Bus Power Management Interface 1.2). Supports D0 and
/// D3hot. Writing an unsupported state is discarded, as the specification requires. In D3hot the device's BARs do not
/// decode. A D3hot → D0 transition resets the function unless <c>No_Soft_Reset</c> is set.
/// </summary>
public sealed class PowerManagementCapability : PciCapability
{
    private const int Pmc = 2, Pmcsr = 4;
    private const ushort StateMask = 0x3, NoSoftResetBit = 0x8, PmeEnable = 0x100, PmeStatus = 0x8000;

    /// <summary>Creates the capability.</summary>
    /// <param name="noSoftReset">When true (the default) a D3hot → D0 transition keeps the device's state.</param>
    /// <param name="pmeFromD3Hot">Advertise PME# generation from D3hot (makes PME_En writable and PME_Status W1C).</param>
    public PowerManagementCapability(bool noSoftReset = true, bool pmeFromD3Hot = false)
    {
        NoSoftReset = noSoftReset;
        PmeFromD3Hot = pmeFromD3Hot;
    }

    /// <summary>D3hot → D0 keeps state.</summary>
    public bool NoSoftReset { get; }
    /// <summary>PME# from D3hot supported.</summary>
    public bool PmeFromD3Hot { get; }

    /// <inheritdoc />
    public override byte Id => (byte)PciCapabilityId.PowerManagement;

    /// <inheritdoc />
    public override int Length => 8;

    /// <summary>The current power state.</summary>
    public PciPowerState State => (PciPowerState)(Get16(Pmcsr) & StateMask);

    /// <inheritdoc />
    protected override void Initialize()
    {
        ushort pmc = 0x0003; // version 3 (PM 1.2)
        if (PmeFromD3Hot) pmc |= 1 << 14;
        Set16(Pmc, pmc);
        Set16(Pmcsr, NoSoftReset ? NoSoftResetBit : (ushort)0);
        // PowerState is handled in OnConfigWrite so that unsupported states are discarded.
        if (PmeFromD3Hot)
        {
            Writable(Pmcsr, 2, PmeEnable);
            WriteOneToClear(Pmcsr, 2, PmeStatus);
        }
    }

    /// <inheritdoc />
    public override void OnConfigWrite(int offset, int size, uint value)
    {
        if (!Touches(offset, size, Pmcsr, 1)) return;
        if (offset > Offset + Pmcsr) return; // the state bits are in the low byte of PMCSR
        int shift = 8 * (Offset + Pmcsr - offset);
        var requested = (PciPowerState)((value >> shift) & StateMask);
        if (requested is not (PciPowerState.D0 or PciPowerState.D3Hot)) return; // unsupported: discarded
        var previous = State;
        if (requested == previous) return;
        Set16(Pmcsr, (ushort)((Get16(Pmcsr) & ~StateMask) | (ushort)requested));
        Device.OnPowerStateChanged(previous, requested, resetRequired: previous == PciPowerState.D3Hot && !NoSoftReset);
    }
}
