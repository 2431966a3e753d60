using PciKit.Capabilities;
using PciKit.Config;
using PciKit.Device;
using PciKit.Tests.TestDevices;

namespace PciKit.Tests.Capabilities;

/// <summary>PCI Bus Power Management Interface 1.2: PMC, PMCSR, D0 ↔ D3hot.</summary>
public class PowerManagementTests
{
    private const int Pmc = 2, Pmcsr = 4;

    private static (InterruptDevice Device, int Pm) Create(bool noSoftReset = true)
    {
        var device = new InterruptDevice(noSoftReset);
        return (device, device.CapOffset(PciCapabilityId.PowerManagement));
    }

    private static void SetState(PciDevice device, int pm, PciPowerState state) => device.ConfigWrite(pm + Pmcsr, 2, (uint)state);

    private static PciPowerState ReadState(PciDevice device, int pm) => (PciPowerState)(device.ConfigRead(pm + Pmcsr, 2) & 3);

    /// <summary>Programs BAR0, enables memory decoding and puts a value in the scratch register.</summary>
    private static void Configure(PciDevice device)
    {
        device.ConfigWrite(PciHeader.Bar0, 4, 0xFEB0_0000);
        device.SetCommand(PciCommand.MemorySpace | PciCommand.BusMaster);
        device.BarWrite(0, 0, 4, 0x1234_5678);
    }

    [Fact]
    public void PMC_reports_version_3_and_PMCSR_starts_in_D0_with_No_Soft_Reset()
    {
        var (device, pm) = Create();

        Assert.Equal(0x0003u, device.ConfigRead(pm + Pmc, 2) & 0x7);
        Assert.Equal(0x0008u, device.ConfigRead(pm + Pmcsr, 2));
        Assert.Equal(PciPowerState.D0, device.PowerState);
    }

    [Fact]
    public void The_driver_moves_the_function_between_D0_and_D3hot()
    {
        var (device, pm) = Create();

        SetState(device, pm, PciPowerState.D3Hot);
        Assert.Equal(PciPowerState.D3Hot, ReadState(device, pm));
        Assert.Equal(PciPowerState.D3Hot, device.PowerState);

        SetState(device, pm, PciPowerState.D0);
        Assert.Equal(PciPowerState.D0, ReadState(device, pm));
        Assert.Equal(PciPowerState.D0, device.PowerState);
    }

    [Theory]
    [InlineData(PciPowerState.D1)]
    [InlineData(PciPowerState.D2)]
    public void Writing_an_unsupported_state_is_discarded(PciPowerState state)
    {
        var (device, pm) = Create();
        SetState(device, pm, PciPowerState.D3Hot);

        SetState(device, pm, state);

        Assert.Equal(PciPowerState.D3Hot, ReadState(device, pm));
        Assert.Equal(PciPowerState.D3Hot, device.PowerState);
    }

    [Fact]
    public void BARs_do_not_decode_in_D3hot_but_configuration_space_does()
    {
        var (device, pm) = Create();
        Configure(device);

        SetState(device, pm, PciPowerState.D3Hot);

        Assert.False(device.IsDecoding(0));
        Assert.Equal(0xFFFF_FFFFul, device.BarRead(0, 0, 4));
        device.BarWrite(0, 0, 4, 0);
        Assert.Equal(2, device.Counters.BarAccessWhileDisabledCount);
        Assert.Equal(0x1234u, device.ConfigRead(PciHeader.VendorId, 2));

        SetState(device, pm, PciPowerState.D0);
        Assert.Equal(0x1234_5678ul, device.BarRead(0, 0, 4)); // the dropped write did not land
    }

    [Fact]
    public void With_No_Soft_Reset_the_function_keeps_its_state_across_D3hot()
    {
        var (device, pm) = Create(noSoftReset: true);
        Configure(device);

        SetState(device, pm, PciPowerState.D3Hot);
        SetState(device, pm, PciPowerState.D0);

        Assert.Equal(0xFEB0_0000ul, device.GetBarAddress(0));
        Assert.Equal(0x1234_5678ul, device.BarRead(0, 0, 4));
        Assert.Equal(0, device.Counters.ResetCount);
    }

    [Fact]
    public void Without_No_Soft_Reset_D3hot_to_D0_resets_the_function()
    {
        var (device, pm) = Create(noSoftReset: false);
        Assert.Equal(0u, device.ConfigRead(pm + Pmcsr, 2));
        Configure(device);

        SetState(device, pm, PciPowerState.D3Hot);
        Assert.Empty(device.ResetKinds); // entering D3hot does not reset
        SetState(device, pm, PciPowerState.D0);

        Assert.Equal([PciResetKind.PowerManagement], device.ResetKinds);
        Assert.Equal(1, device.Counters.ResetCount);
        Assert.Equal(0, device.Command());
        Assert.Equal(0ul, device.GetBarAddress(0));
        Assert.Equal(PciPowerState.D0, device.PowerState);
        Assert.Equal(PciPowerState.D0, ReadState(device, pm));
    }

    [Fact]
    public void PME_enable_is_writable_and_PME_status_write_one_to_clear_when_PME_from_D3hot_is_supported()
    {
        var device = new CustomDevice(d => d.Capability(new PowerManagementCapability(pmeFromD3Hot: true)));
        int pm = device.Capabilities.Single().Offset;

        Assert.NotEqual(0u, device.ConfigRead(pm + Pmc, 2) & (1u << 14));
        device.ConfigWrite(pm + Pmcsr, 2, 0x0100);
        Assert.Equal(0x0108u, device.ConfigRead(pm + Pmcsr, 2));

        device.Locked(() => device.Config.SetBits16(pm + Pmcsr, 0x8000));
        device.ConfigWrite(pm + Pmcsr, 2, 0x8100);
        Assert.Equal(0x0108u, device.ConfigRead(pm + Pmcsr, 2));
    }

    [Fact]
    public void A_conventional_reset_returns_the_function_to_D0()
    {
        var (device, pm) = Create();
        SetState(device, pm, PciPowerState.D3Hot);

        device.Reset();

        Assert.Equal(PciPowerState.D0, device.PowerState);
        Assert.Equal(PciPowerState.D0, ReadState(device, pm));
    }
}
