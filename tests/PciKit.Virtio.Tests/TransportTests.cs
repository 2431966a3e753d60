using PciKit.Config;
using PciKit.Device;
using PciKit.Devices.Virtio;

namespace PciKit.Virtio.Tests;

/// <summary>The modern PCI transport: capabilities, feature negotiation, the status state machine, queue registers (virtio 1.2, 4.1).</summary>
public sealed class TransportTests
{
    private const ulong Version1 = 1UL << 32;

    [Fact]
    public void Vendor_capabilities_locate_every_structure_in_bar_4()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var f = rig.Function;
        Assert.Equal(0x1af4, f.ConfigRead16(PciHeader.VendorId));
        Assert.Equal(0x1044, f.ConfigRead16(PciHeader.DeviceId));
        Assert.Equal(1, f.ConfigRead8(PciHeader.RevisionId)); // modern devices have revision >= 1
        var d = rig.Driver;
        Assert.Equal(new VirtioTestDriver.Structure(4, 0x0000, 0x3C), d.Common);
        Assert.Equal(new VirtioTestDriver.Structure(4, 0x1000, 1), d.Isr);
        Assert.Equal(new VirtioTestDriver.Structure(4, 0x3000, 4), d.Notify);
        Assert.Equal(4u, d.NotifyMultiplier);
        Assert.Equal(default, d.DeviceCfg); // virtio-rng has no device configuration
        Assert.NotEqual(0, d.PciCfgCap);
        Assert.Equal(0x4000UL, f.GetBarInfo(4).Size);
        Assert.Equal(1, d.NumQueues);
    }

    [Fact]
    public void Features_without_VERSION_1_are_refused_and_FEATURES_OK_does_not_stick()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var d = rig.Driver;
        Assert.NotEqual(0UL, d.DeviceFeatures & Version1);
        Assert.False(d.Negotiate(0));
        Assert.Equal(VirtioStatus.Acknowledge | VirtioStatus.Driver, d.Status);
        Assert.Contains(rig.Log.Lines, l => l.Contains("VIRTIO_F_VERSION_1"));
        Assert.True(d.Negotiate(Version1));
        Assert.Equal(Version1, rig.Device.NegotiatedFeatures);
    }

    [Fact]
    public void Features_the_device_does_not_offer_are_refused()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        ulong ringPacked = 1UL << 34;
        Assert.Equal(0UL, rig.Driver.DeviceFeatures & ringPacked);
        Assert.False(rig.Driver.Negotiate(Version1 | ringPacked));
        Assert.Equal(0UL, rig.Device.NegotiatedFeatures);
    }

    [Fact]
    public void Driver_features_are_frozen_once_FEATURES_OK_is_set()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var d = rig.Driver;
        Assert.True(d.Negotiate(Version1));
        d.WriteDriverFeatures(Version1 | (1UL << 29));
        d.Write32(0x08, 0);
        Assert.Equal(0u, d.Read32(0x0C));
        Assert.Equal(Version1, rig.Device.NegotiatedFeatures);
    }

    [Fact]
    public void Writing_status_0_resets_features_queues_and_vectors()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var d = rig.Driver;
        var q = d.Start(Version1, msix: true)[0];
        Assert.Equal(0, d.ConfigVector);
        d.Write16(0x16, 0);
        Assert.Equal(1, d.Read16(0x1C));
        d.Status = 0;
        Assert.Equal(VirtioStatus.None, d.Status);
        Assert.Equal(0UL, rig.Device.NegotiatedFeatures);
        Assert.Equal(VirtioTestDriver.NoVector, d.ConfigVector);
        d.Write16(0x16, 0);
        Assert.Equal(0, d.Read16(0x1C));                         // queue disabled
        Assert.Equal(VirtioRngDevice.QueueSize, d.Read16(0x18));  // size back to the maximum
        Assert.Equal(0u, d.Read32(0x20));                         // addresses cleared
        Assert.Equal(VirtioTestDriver.NoVector, d.Read16(0x1A));
        _ = q;
    }

    [Fact]
    public void A_pci_reset_also_resets_the_virtio_state()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        rig.Driver.Start(Version1);
        rig.Device.Reset();
        Assert.Equal(VirtioStatus.None, rig.Device.Status);
        Assert.False(rig.Device.Queues[0].Enabled);
    }

    [Fact]
    public void Queue_registers_of_a_queue_that_does_not_exist_read_zero_and_ignore_writes()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var d = rig.Driver;
        d.Write16(0x16, 5);
        Assert.Equal(0, d.Read16(0x18));
        d.Write16(0x18, 16);
        Assert.Equal(0, d.Read16(0x18));
        d.Write16(0x1C, 1);
        Assert.Equal(0, d.Read16(0x1C));
    }

    [Fact]
    public void An_msix_vector_beyond_the_table_reads_back_NO_VECTOR()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var d = rig.Driver;
        d.ConfigVector = 1;
        Assert.Equal(1, d.ConfigVector);
        d.ConfigVector = 2; // the table has queues + 1 = 2 entries
        Assert.Equal(VirtioTestDriver.NoVector, d.ConfigVector);
        d.Write16(0x16, 0);
        d.Write16(0x1A, 7);
        Assert.Equal(VirtioTestDriver.NoVector, d.Read16(0x1A));
    }

    [Fact]
    public void Without_msix_every_vector_reads_NO_VECTOR_and_there_is_no_msix_capability()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice(new VirtioPciOptions { MsiX = false }));
        Assert.Equal(0, rig.Function.FindCapability(PciCapabilityId.MsiX));
        rig.Driver.ConfigVector = 0;
        Assert.Equal(VirtioTestDriver.NoVector, rig.Driver.ConfigVector);
    }

    [Fact]
    public void Enabling_a_queue_whose_size_is_not_a_power_of_two_sets_DEVICE_NEEDS_RESET()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var d = rig.Driver;
        Assert.True(d.Negotiate(Version1));
        d.SetupQueue(0, size: 48);
        Assert.True((d.Status & VirtioStatus.DeviceNeedsReset) != 0);
        Assert.False(rig.Device.Queues[0].Enabled);
        Assert.Contains("queue size 48", rig.Device.LastFault);
    }

    [Fact]
    public void Buffers_made_available_before_DRIVER_OK_are_served_only_at_DRIVER_OK()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var d = rig.Driver;
        Assert.True(d.Negotiate(Version1));
        var q = d.SetupQueue(0);
        q.Submit((0, 64, true));
        d.Kick(q);
        Assert.Equal(0, q.UsedIdx);
        d.DriverOk();
        Assert.Equal(1, q.UsedIdx);
        Assert.True(q.TryTakeUsed(out _, out uint len));
        Assert.Equal(64u, len);
    }

    [Fact]
    public void The_pci_configuration_access_capability_reaches_the_common_configuration_and_the_isr()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice(new VirtioPciOptions { MsiX = false }));
        var f = rig.Function;
        int cap = rig.Driver.PciCfgCap;
        // Read device_feature (word 1: VERSION_1 is bit 0 of it) through the window.
        rig.Driver.Write32(0x00, 1);
        f.ConfigWrite8(cap + 4, 4);
        f.ConfigWrite32(cap + 8, 0x04);
        f.ConfigWrite32(cap + 12, 4);
        Assert.Equal(1u, f.ConfigRead32(cap + 16) & 1);
        // Write device_status = ACKNOWLEDGE through the window.
        f.ConfigWrite32(cap + 8, 0x14);
        f.ConfigWrite32(cap + 12, 1);
        f.ConfigWrite32(cap + 16, 1);
        Assert.Equal(VirtioStatus.Acknowledge, rig.Driver.Status);
        // Reading the ISR through the window clears it, as a BAR read does.
        var q = rig.Driver.Start(Version1)[0];
        q.Submit((0, 16, true));
        rig.Driver.Kick(q);
        Assert.Equal(1, rig.Device.IsrStatus);
        f.ConfigWrite32(cap + 8, 0x1000);
        f.ConfigWrite32(cap + 12, 1);
        Assert.Equal(1u, f.ConfigRead32(cap + 16) & 0xFF);
        Assert.Equal(0, rig.Device.IsrStatus);
    }

    [Fact]
    public void A_misaligned_window_is_refused_without_touching_the_device()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var f = rig.Function;
        int cap = rig.Driver.PciCfgCap;
        f.ConfigWrite8(cap + 4, 4);
        f.ConfigWrite32(cap + 8, 0x15);
        f.ConfigWrite32(cap + 12, 2);
        f.ConfigWrite32(cap + 16, 0x0101);
        Assert.Equal(VirtioStatus.None, rig.Driver.Status);
        Assert.Contains(rig.Log.Lines, l => l.Contains("configuration access window"));
    }

    [Fact]
    public void ACCESS_PLATFORM_is_offered_only_for_a_device_behind_an_iommu()
    {
        ulong accessPlatform = 1UL << 33;
        using (var plain = new Rig<VirtioRngDevice>(new VirtioRngDevice()))
            Assert.Equal(0UL, plain.Driver.DeviceFeatures & accessPlatform);
        using var iommu = new Rig<VirtioRngDevice>(new VirtioRngDevice(new VirtioPciOptions { AccessPlatform = true }));
        Assert.Equal(accessPlatform, iommu.Driver.DeviceFeatures & accessPlatform);
        Assert.True(iommu.Driver.Negotiate(Version1 | accessPlatform));
    }
}
