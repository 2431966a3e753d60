using PciKit.Capabilities;
using PciKit.Config;
using PciKit.Device;
using PciKit.Tests.TestDevices;

namespace PciKit.Tests.Capabilities;

/// <summary>The PCI Express capability of an endpoint (PCIe base spec 7.5.3), including Function Level Reset.</summary>
public class PciExpressTests
{
    private const int Caps = 2, DevCap = 4, DevCtl = 8, DevSta = 0xA, LinkCap = 0xC, LinkCtl = 0x10, LinkSta = 0x12;
    private const uint FlrCapable = 1u << 28;
    private const ushort InitiateFlr = 0x8000;

    private static (InterruptDevice Device, int Cap) Create(bool flr = true)
    {
        var device = new InterruptDevice(flr: flr);
        return (device, device.CapOffset(PciCapabilityId.PciExpress));
    }

    [Fact]
    public void The_capability_describes_a_version_2_endpoint_with_an_x1_link()
    {
        var (device, cap) = Create();

        Assert.Equal(0x0002u, device.ConfigRead(cap + Caps, 2));
        Assert.Equal(0x11u, device.ConfigRead(cap + LinkCap, 4) & 0x3FF);
        Assert.Equal(0x11u, device.ConfigRead(cap + LinkSta, 2));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Device_capabilities_advertise_FLR_only_when_implemented(bool flr)
    {
        var (device, cap) = Create(flr);
        Assert.Equal(flr, (device.ConfigRead(cap + DevCap, 4) & FlrCapable) != 0);
    }

    [Fact]
    public void Device_control_bits_are_read_write_and_initiate_FLR_reads_zero()
    {
        var (device, cap) = Create(flr: false);

        Assert.Equal(0x2810u, device.ConfigRead(cap + DevCtl, 2));
        device.ConfigWrite(cap + DevCtl, 2, 0xFFFF);

        Assert.Equal(0x7FFFu, device.ConfigRead(cap + DevCtl, 2));
        Assert.Empty(device.ResetKinds);
    }

    [Fact]
    public void Link_control_has_only_its_implemented_bits_writable()
    {
        var (device, cap) = Create();

        device.ConfigWrite(cap + LinkCtl, 2, 0xFFFF);

        Assert.Equal(0x01C3u, device.ConfigRead(cap + LinkCtl, 2));
    }

    [Fact]
    public void Device_status_error_bits_are_write_one_to_clear()
    {
        var (device, cap) = Create();
        device.Locked(() => device.Config.Set16(cap + DevSta, 0x002F)); // four error bits + AUX power detected

        device.ConfigWrite(cap + DevSta, 2, 0x0005);
        Assert.Equal(0x002Au, device.ConfigRead(cap + DevSta, 2));

        device.ConfigWrite(cap + DevSta, 2, 0xFFFF);
        Assert.Equal(0x0020u, device.ConfigRead(cap + DevSta, 2));
    }

    [Fact]
    public void Initiate_FLR_restores_the_power_on_state()
    {
        var (device, cap) = Create();
        var sink = new RecordingSink();
        device.Connect(sink, null);
        int msix = device.CapOffset(PciCapabilityId.MsiX);
        var powerOn = device.Config.Bytes.ToArray();
        device.ConfigWrite(PciHeader.Bar0, 4, 0xFEB0_0000);
        device.ConfigWrite(PciHeader.Bar0 + 8, 4, 0xFEA0_0000);
        device.ConfigWrite(PciHeader.InterruptLine, 1, 11);
        device.SetCommand(PciCommand.MemorySpace | PciCommand.BusMaster);
        device.BarWrite(0, 0, 8, 0xAAAA_BBBB_CCCC_DDDD);
        device.BarWrite(2, InterruptDevice.TableOffset + 12, 4, 0); // unmask vector 0
        device.ConfigWrite(msix + 2, 2, 0x8000);
        device.ConfigWrite(cap + DevCtl, 2, 0x0007 | 0x2810);

        device.ConfigWrite(cap + DevCtl, 2, InitiateFlr | 0x2810);

        Assert.Equal([PciResetKind.FunctionLevel], device.ResetKinds);
        Assert.Equal(1, device.Counters.ResetCount);
        Assert.Equal(powerOn, device.Config.Bytes.ToArray());
        Assert.Equal(0x2810u, device.ConfigRead(cap + DevCtl, 2)); // Initiate FLR reads back 0
        Assert.True(device.MsiX!.IsVectorMasked(0));
        Assert.False(device.MsiX.Enabled);
        Assert.False(device.IsDecoding(0));
        device.SetCommand(PciCommand.MemorySpace);
        Assert.Equal(0ul, device.BarRead(0, 0, 8)); // device state reset by OnReset
    }

    [Fact]
    public void A_byte_write_of_the_high_control_byte_also_initiates_FLR()
    {
        var (device, cap) = Create();

        device.ConfigWrite(cap + DevCtl + 1, 1, 0x80);

        Assert.Equal([PciResetKind.FunctionLevel], device.ResetKinds);
    }

    [Fact]
    public void A_dword_write_covering_control_and_status_initiates_FLR()
    {
        var (device, cap) = Create();

        device.ConfigWrite(cap + DevCtl, 4, InitiateFlr);

        Assert.Equal([PciResetKind.FunctionLevel], device.ResetKinds);
    }

    [Fact]
    public void Without_FLR_capability_initiate_FLR_is_ignored()
    {
        var (device, cap) = Create(flr: false);
        device.SetCommand(PciCommand.MemorySpace);

        device.ConfigWrite(cap + DevCtl, 2, InitiateFlr);

        Assert.Empty(device.ResetKinds);
        Assert.Equal((int)PciCommand.MemorySpace, device.Command());
    }

    [Fact]
    public void FLR_drops_a_pending_INTx()
    {
        var (device, cap) = Create();
        var sink = new RecordingSink();
        device.Connect(sink, null);
        device.SetIntx(true);

        device.ConfigWrite(cap + DevCtl, 2, InitiateFlr);

        Assert.False(sink.IntxLine);
        Assert.False(device.Interrupts.IntxLevel);
        Assert.Equal(0, device.Status() & (int)PciStatus.InterruptStatus);
    }

    [Fact]
    public void Invalid_max_payload_sizes_are_rejected()
    {
        var e = Assert.Throws<PciDefinitionException>(() => new PciExpressCapability(maxPayloadSize: 100));
        Assert.Contains("128, 256, 512, 1024, 2048 or 4096", e.Message);
    }
}
