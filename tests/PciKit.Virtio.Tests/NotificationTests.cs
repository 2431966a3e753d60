using PciKit.Config;
using PciKit.Device;
using PciKit.Devices.Virtio;

namespace PciKit.Virtio.Tests;

/// <summary>Used-buffer notifications: MSI-X vectors, INTx with the ISR, and their suppression (NO_INTERRUPT, EVENT_IDX).</summary>
public sealed class NotificationTests
{
    private const ulong Version1 = 1UL << 32, EventIdx = 1UL << 29;

    [Fact]
    public void Intx_is_raised_with_ISR_bit_0_and_reading_the_ISR_clears_it_and_lowers_the_line()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice(new VirtioPciOptions { MsiX = false }));
        var d = rig.Driver;
        var intx = rig.Function.ConfigureInterrupts(PciInterruptKind.Intx)[0];
        var q = d.Start(Version1)[0];
        q.Run((0, 32, true));
        Assert.Equal(1, intx.TotalCount);
        Assert.True(rig.Device.Interrupts.IntxLevel);
        Assert.NotEqual(0, rig.Function.ConfigRead16(PciHeader.Status) & (ushort)PciStatus.InterruptStatus);
        Assert.Equal(1, d.ReadIsr());
        Assert.False(rig.Device.Interrupts.IntxLevel);
        Assert.Equal(0, rig.Function.ConfigRead16(PciHeader.Status) & (ushort)PciStatus.InterruptStatus);
        Assert.Equal(0, d.ReadIsr()); // read-to-clear
        q.Run((0, 32, true));
        Assert.Equal(2, intx.TotalCount);
    }

    [Fact]
    public void Msix_sends_the_queue_vector_for_used_buffers_and_the_config_vector_for_needs_reset()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var d = rig.Driver;
        var vectors = rig.Function.ConfigureInterrupts(PciInterruptKind.MsiX, 2);
        var q = d.Start(Version1, msix: true)[0]; // config vector 0, queue 0 on vector 1
        q.Run((0, 32, true));
        Assert.Equal(0, vectors[0].TotalCount);
        Assert.Equal(1, vectors[1].TotalCount);
        Assert.False(rig.Device.Interrupts.IntxLevel);

        q.Publish(q.Size); // a head out of range
        d.Kick(q);
        Assert.True((d.Status & VirtioStatus.DeviceNeedsReset) != 0);
        Assert.Equal(1, vectors[0].TotalCount);
        Assert.Equal(2, d.ReadIsr() & 2);
    }

    [Fact]
    public void A_queue_with_NO_VECTOR_sends_no_message()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var vectors = rig.Function.ConfigureInterrupts(PciInterruptKind.MsiX, 2);
        var q = rig.Driver.Start(Version1)[0];
        q.Run((0, 32, true));
        Assert.Equal(0, vectors[0].TotalCount + vectors[1].TotalCount);
        Assert.Equal(0, rig.Device.Counters.MessagesSentCount);
    }

    [Fact]
    public void Without_EVENT_IDX_the_NO_INTERRUPT_flag_suppresses_notifications()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var vectors = rig.Function.ConfigureInterrupts(PciInterruptKind.MsiX, 2);
        var q = rig.Driver.Start(Version1, msix: true)[0];
        q.AvailFlags = 1;
        q.Run((0, 32, true));
        Assert.Equal(0, vectors[1].TotalCount);
        q.AvailFlags = 0;
        q.Run((0, 32, true));
        Assert.Equal(1, vectors[1].TotalCount);
    }

    [Fact]
    public void With_EVENT_IDX_the_device_notifies_only_when_the_used_index_passes_used_event()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var vectors = rig.Function.ConfigureInterrupts(PciInterruptKind.MsiX, 2);
        var q = rig.Driver.Start(Version1 | EventIdx, msix: true)[0];
        q.AvailFlags = 1; // ignored with EVENT_IDX
        q.UsedEvent = 3;  // "interrupt me when used idx goes past 3"
        long[] seen = new long[5];
        for (int i = 0; i < 5; i++)
        {
            q.Run((0, 8, true));
            seen[i] = vectors[1].TotalCount;
        }
        // The first used buffer always notifies; then only the step from 3 to 4 crosses used_event.
        Assert.Equal([1L, 1, 1, 2, 2], seen);
    }

    [Fact]
    public void With_EVENT_IDX_the_device_publishes_avail_event_after_draining_the_ring()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var d = rig.Driver;
        var q = d.Start(Version1 | EventIdx)[0];
        q.Submit((0, 8, true));
        q.Submit((8, 8, true));
        q.Submit((16, 8, true));
        d.Kick(q);
        Assert.Equal(3, q.UsedIdx);
        Assert.Equal(3, q.AvailEvent);
    }

    [Fact]
    public void Without_EVENT_IDX_avail_event_is_left_alone()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var d = rig.Driver;
        var q = d.Start(Version1)[0];
        q.Run((0, 8, true));
        Assert.Equal(0, q.AvailEvent);
    }
}
