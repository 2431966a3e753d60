using PciKit.Devices.Virtio;

namespace PciKit.Virtio.Tests;

/// <summary>
/// Malformed rings from a guest mark the device DEVICE_NEEDS_RESET (with a configuration-change interrupt) instead of
/// crashing or hanging, and the device serves again after the driver resets it.
/// </summary>
public sealed class RingFaultTests
{
    private const ulong Version1 = 1UL << 32, Indirect = 1UL << 28;
    private const ushort Next = 1, Write = 2, IndirectFlag = 4;

    public static TheoryData<string> Faults() => new(
        "descriptor loop", "head out of range", "next out of range", "available index runs ahead", "buffer beyond mapped memory",
        "unmapped descriptor table", "indirect inside indirect", "indirect table loop", "indirect table next out of range",
        "indirect without the feature", "indirect table length", "readable after writable");

    [Theory]
    [MemberData(nameof(Faults))]
    public void A_malformed_ring_sets_DEVICE_NEEDS_RESET_and_the_device_serves_again_after_a_reset(string fault)
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice(new VirtioPciOptions { MsiX = false }));
        var d = rig.Driver;
        var q = d.Start(Version1 | (fault == "indirect without the feature" ? 0 : Indirect))[0];
        using var edge = rig.Function.AllocateDmaBuffer(100); // nothing is mapped right after its 100 bytes
        ulong data = q.Data.DeviceAddress;
        switch (fault)
        {
            case "descriptor loop":
                q.SetDescriptor(0, data, 16, Write | Next, 1);
                q.SetDescriptor(1, data + 16, 16, Write | Next, 0);
                q.Publish(0);
                break;
            case "head out of range":
                q.Publish(q.Size);
                break;
            case "next out of range":
                q.SetDescriptor(0, data, 16, Write | Next, (ushort)(q.Size + 3));
                q.Publish(0);
                break;
            case "available index runs ahead":
                q.SetAvailIdx((ushort)(q.Size + 1));
                break;
            case "buffer beyond mapped memory":
                q.SetDescriptor(0, edge.DeviceAddress + 50, 4096, Write, 0);
                q.Publish(0);
                break;
            case "unmapped descriptor table":
                d.Reset();
                Assert.True(d.Negotiate(Version1));
                d.Write16(0x16, 0);
                d.Write32(0x20, 0x4000_0000); d.Write32(0x24, 0x7f);   // aligned, but nothing is mapped there
                d.Write32(0x28, (uint)q.AvailAddress); d.Write32(0x2C, (uint)(q.AvailAddress >> 32));
                d.Write32(0x30, (uint)q.UsedAddress); d.Write32(0x34, (uint)(q.UsedAddress >> 32));
                d.Write16(0x1C, 1);
                d.DriverOk();
                q.Publish(0);
                break;
            case "indirect inside indirect":
            {
                ulong inner = q.WriteIndirectTable(0x1000, (data, 16, Write, 0));
                ulong outer = q.WriteIndirectTable(0x2000, (inner, 16, IndirectFlag, 0));
                q.SetDescriptor(0, outer, 16, IndirectFlag, 0);
                q.Publish(0);
                break;
            }
            case "indirect table loop":
            {
                ulong table = q.WriteIndirectTable(0x1000, (data, 16, Write | Next, 1), (data + 16, 16, Write | Next, 0));
                q.SetDescriptor(0, table, 32, IndirectFlag, 0);
                q.Publish(0);
                break;
            }
            case "indirect table next out of range":
            {
                ulong table = q.WriteIndirectTable(0x1000, (data, 16, Write | Next, 9));
                q.SetDescriptor(0, table, 16, IndirectFlag, 0);
                q.Publish(0);
                break;
            }
            case "indirect without the feature":
            {
                ulong table = q.WriteIndirectTable(0x1000, (data, 16, Write, 0));
                q.SetDescriptor(0, table, 16, IndirectFlag, 0);
                q.Publish(0);
                break;
            }
            case "indirect table length":
            {
                ulong table = q.WriteIndirectTable(0x1000, (data, 16, Write, 0));
                q.SetDescriptor(0, table, 24, IndirectFlag, 0);
                q.Publish(0);
                break;
            }
            case "readable after writable":
                q.SetDescriptor(0, data, 16, Write | Next, 1);
                q.SetDescriptor(1, data + 16, 16, Next, 0);
                q.Publish(0);
                break;
        }
        d.Kick(q);

        Assert.True((d.Status & VirtioStatus.DeviceNeedsReset) != 0, $"{fault}: status {d.Status}\n{rig.Log}");
        Assert.Equal(0, q.UsedIdx);
        Assert.Equal(2, d.ReadIsr() & 2); // configuration change notification
        Assert.Equal(1, rig.Device.NeedsResetEvents);
        Assert.Contains(rig.Log.Lines, l => l.Contains("device needs reset"));

        // Further notifications are ignored until the driver resets the device ...
        d.Kick(q);
        Assert.Equal(1, rig.Device.NeedsResetEvents);

        // ... and after a reset it serves again.
        var fresh = d.Start(Version1)[0];
        fresh.Submit((0, 32, true));
        d.Kick(fresh);
        Assert.True(fresh.TryTakeUsed(out _, out uint len));
        Assert.Equal(32u, len);
        Assert.Equal(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk, d.Status);
    }

    [Fact]
    public void A_chain_of_exactly_the_queue_size_is_served()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var d = rig.Driver;
        var q = d.Start(Version1)[0];
        var buffers = Enumerable.Range(0, q.Size).Select(i => ((ulong)i * 8, 8u, true)).ToArray();
        var (_, len) = q.Run(buffers);
        Assert.Equal(8u * q.Size, len);
        Assert.Equal(VirtioStatus.None, d.Status & VirtioStatus.DeviceNeedsReset);
    }

    [Fact]
    public void Bus_master_off_makes_the_ring_unreachable_and_the_device_needs_reset()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var d = rig.Driver;
        var q = d.Start(Version1)[0];
        q.Submit((0, 16, true));
        rig.Function.SetBusMaster(false);
        d.Kick(q);
        Assert.True((d.Status & VirtioStatus.DeviceNeedsReset) != 0);
    }
}
