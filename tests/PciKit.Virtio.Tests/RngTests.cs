using PciKit.Devices.Virtio;

namespace PciKit.Virtio.Tests;

/// <summary>virtio-rng fills the driver's buffers with CSPRNG bytes (virtio 1.2, 5.4).</summary>
public sealed class RngTests
{
    private const ulong Version1 = 1UL << 32, Indirect = 1UL << 28;
    private const ushort Next = 1, Write = 2, IndirectFlag = 4;

    [Fact]
    public void Reads_of_64_KiB_arrive_filled_and_two_reads_differ()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var q = rig.Driver.Start(Version1)[0];
        var (_, len) = q.Run((0, 65536, true));
        Assert.Equal(65536u, len);
        var first = q.Data.GetSpan(0, 65536).ToArray();
        q.Run((0, 65536, true));
        var second = q.Data.GetSpan(0, 65536).ToArray();
        Assert.NotEqual(first, second);
        // Every byte value shows up in 64 KiB of uniform random data (missing one has probability ~256·e^-256).
        Assert.Equal(256, first.Distinct().Count());
        Assert.Equal(2 * 65536, rig.Device.BytesProvided);
    }

    [Fact]
    public void A_request_split_across_an_indirect_table_is_filled_in_every_part_and_nothing_else_is_touched()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var q = rig.Driver.Start(Version1 | Indirect)[0];
        ulong data = q.Data.DeviceAddress;
        ulong table = q.WriteIndirectTable(0x8000, (data + 0x100, 100, Write | Next, 1), (data + 0x300, 200, Write | Next, 2), (data + 0x500, 300, Write, 0));
        q.SetDescriptor(0, table, 48, IndirectFlag, 0);
        q.Publish(0);
        rig.Driver.Kick(q);
        Assert.True(q.TryTakeUsed(out _, out uint len));
        Assert.Equal(600u, len);
        Assert.All(new[] { (0x100, 100), (0x300, 200), (0x500, 300) }, r => Assert.Contains(q.Data.GetSpan((ulong)r.Item1, r.Item2).ToArray(), b => b != 0));
        Assert.All(q.Data.GetSpan(0x100 + 100, 0x300 - 0x100 - 100).ToArray(), b => Assert.Equal(0, b)); // the gap stays zero
    }

    [Fact]
    public void A_request_with_only_readable_buffers_completes_with_length_0()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var q = rig.Driver.Start(Version1)[0];
        var (_, len) = q.Run((0, 16, false));
        Assert.Equal(0u, len);
        Assert.Equal(VirtioStatus.None, rig.Driver.Status & VirtioStatus.DeviceNeedsReset);
    }

    [Fact]
    public void Many_requests_wrap_the_rings_and_all_complete()
    {
        using var rig = new Rig<VirtioRngDevice>(new VirtioRngDevice());
        var q = rig.Driver.Start(Version1)[0];
        for (int i = 0; i < 3 * VirtioRngDevice.QueueSize + 5; i++) q.Run(((ulong)(i % 16) * 64, 64, true));
        Assert.Equal(3 * VirtioRngDevice.QueueSize + 5, rig.Device.CompletedRequests);
    }
}
