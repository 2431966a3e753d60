using PciKit.Testing;
using PciKit.Config;
using PciKit.Device;
using PciKit.Devices.Ivshmem;
using PciKit.Driver;
using PciKit.Host;
using PciKit.Memory;
using PciKit.Tests.TestDevices;
using R = PciKit.Devices.Ivshmem.IvshmemDevice.Registers;

namespace PciKit.Tests.Ivshmem;

/// <summary>Two doorbell devices on one bus, sharing memory and ringing each other through an in-process loopback link.</summary>
public sealed class IvshmemDoorbellTests : IDisposable
{
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(30);
    private const ulong PbaOffset = 0x800;
    private readonly PciHostBus _bus = new();
    private readonly NativeMemoryBlock _shared = new(1 << 16);
    private readonly IvshmemLoopback _hub;
    private readonly IvshmemDevice _a, _b;
    private readonly PciFunction _fa, _fb;

    public IvshmemDoorbellTests()
    {
        _hub = new IvshmemLoopback(vectors: 4, _shared);
        _a = _hub.JoinDevice();
        _b = _hub.JoinDevice();
        _fa = Open(_a);
        _fb = Open(_b);
    }

    public void Dispose()
    {
        _fa.Dispose();
        _fb.Dispose();
        _bus.Dispose();
        _shared.Dispose();
    }

    private PciFunction Open(PciDevice device)
    {
        var function = _bus.GetFunction(_bus.Attach(device));
        function.Open();
        function.SetDecoding(true);
        return function;
    }

    private static uint Doorbell(int peer, int vector) => (uint)(peer << 16 | vector);

    [Fact]
    public void A_doorbell_raises_the_peers_MSI_X_vector_of_the_same_number()
    {
        var vectors = _fb.ConfigureInterrupts(PciInterruptKind.MsiX, 4);
        _fb.SetBusMaster(true);

        _fa.MemoryWrite32(0, R.Doorbell, Doorbell(1, 2));

        Assert.Equal(1, vectors[2].Wait(HangGuard));
        Assert.Equal(0, vectors[0].Take() + vectors[1].Take() + vectors[3].Take());
        Assert.Equal(1, _a.DoorbellsRung);
        Assert.Equal(1, _b.Notifications);
        Assert.Equal(0u, _fb.MemoryRead32(0, R.IntrStatus)); // the doorbell variant never sets IntrStatus
    }

    [Fact]
    public void Peers_share_BAR2_and_can_ring_each_other_and_themselves()
    {
        var va = _fa.ConfigureInterrupts(PciInterruptKind.MsiX, 4);
        var vb = _fb.ConfigureInterrupts(PciInterruptKind.MsiX, 4);
        _fa.SetBusMaster(true);
        _fb.SetBusMaster(true);
        using var ma = _fa.MapBar(2);
        using var mb = _fb.MapBar(2);

        ma.Write<ulong>(0x40, 0xA11CE);
        _fa.MemoryWrite32(0, R.Doorbell, Doorbell(1, 0));
        Assert.Equal(1, vb[0].Wait(HangGuard));
        Assert.Equal(0xA11CEUL, mb.Read<ulong>(0x40));

        mb.Write<ulong>(0x48, 0xB0B);
        _fb.MemoryWrite32(0, R.Doorbell, Doorbell(0, 3));
        Assert.Equal(1, va[3].Wait(HangGuard));
        Assert.Equal(0xB0BUL, ma.Read<ulong>(0x48));

        _fa.MemoryWrite32(0, R.Doorbell, Doorbell(0, 1)); // its own id: QEMU rings its own eventfd too
        Assert.Equal(1, va[1].Wait(HangGuard));
    }

    [Fact]
    public void A_masked_vector_sets_its_PBA_bit_and_is_delivered_on_unmask()
    {
        var vectors = _fb.ConfigureInterrupts(PciInterruptKind.MsiX, 4);
        _fb.SetBusMaster(true);
        ulong control3 = 3 * 16 + 12;
        _fb.MemoryWrite32(1, control3, 1);

        _fa.MemoryWrite32(0, R.Doorbell, Doorbell(1, 3));
        Assert.True(SpinWait.SpinUntil(() => _b.Notifications == 1, HangGuard));

        Assert.Equal(0, vectors[3].Take());
        Assert.Equal(0b1000u, _fb.MemoryRead32(1, PbaOffset));
        _fb.MemoryWrite32(1, control3, 0);
        Assert.Equal(1, vectors[3].Take());
        Assert.Equal(0u, _fb.MemoryRead32(1, PbaOffset));
    }

    [Fact]
    public void Without_MSI_X_enabled_a_peer_interrupt_is_dropped_as_QEMU_drops_it()
    {
        _fa.MemoryWrite32(0, R.Doorbell, Doorbell(1, 0));
        Assert.True(SpinWait.SpinUntil(() => _b.NotificationsDropped == 1, HangGuard));

        var vectors = _fb.ConfigureInterrupts(PciInterruptKind.MsiX, 4);
        _fb.SetBusMaster(true);
        Assert.Equal(0, vectors[0].Take());
        Assert.Equal(0u, _fb.MemoryRead32(1, PbaOffset));
        Assert.Equal(0u, _fb.MemoryRead32(0, R.IntrStatus));
    }

    [Theory]
    [InlineData(2, 0)]      // no such peer
    [InlineData(0xFFFF, 0)] // the largest id, not connected
    [InlineData(1, 4)]      // the peer has 4 vectors
    [InlineData(1, 0xFF)]
    public void A_doorbell_to_a_missing_peer_or_vector_is_ignored_and_logged(int peer, int vector)
    {
        var log = new ListLog();
        _a.Log = log;
        var vectors = _fb.ConfigureInterrupts(PciInterruptKind.MsiX, 4);
        _fb.SetBusMaster(true);

        _fa.MemoryWrite32(0, R.Doorbell, Doorbell(peer, vector));
        _fa.MemoryWrite32(0, R.Doorbell, Doorbell(1, 1)); // a valid one behind it still works

        Assert.Equal(1, vectors[1].Wait(HangGuard));
        Assert.Equal(1, _a.DoorbellsIgnored);
        Assert.Equal(1, _a.DoorbellsRung);
        Assert.Equal(1, _b.Notifications);
        Assert.Contains(log.Lines, l => l.Contains($"doorbell for peer {peer} vector {vector} ignored", StringComparison.Ordinal));
    }

    [Fact]
    public void Only_the_low_8_bits_of_the_vector_count()
    {
        var vectors = _fb.ConfigureInterrupts(PciInterruptKind.MsiX, 4);
        _fb.SetBusMaster(true);

        _fa.MemoryWrite32(0, R.Doorbell, Doorbell(1, 0x0102)); // vector 0x02 once bits 8–15 are dropped

        Assert.Equal(1, vectors[2].Wait(HangGuard));
        Assert.Equal(0, _a.DoorbellsIgnored);
    }

    [Fact]
    public void Ignored_doorbells_are_logged_rate_limited()
    {
        var log = new ListLog();
        _a.Log = log;
        for (int i = 0; i < 100; i++) _fa.MemoryWrite32(0, R.Doorbell, Doorbell(9, 0));

        Assert.Equal(100, _a.DoorbellsIgnored);
        Assert.InRange(log.Lines.Count, 1, 20);
        Assert.True(_a.Counters.SuppressedLogLineCount >= 80);
    }

    [Fact]
    public void A_peer_that_left_can_no_longer_be_rung()
    {
        _fb.ConfigureInterrupts(PciInterruptKind.MsiX, 4);
        ((IvshmemLoopbackLink)_b.Link!).Dispose();

        _fa.MemoryWrite32(0, R.Doorbell, Doorbell(1, 0));

        Assert.Equal(1, _a.DoorbellsIgnored);
        Assert.Equal(1, _hub.PeerCount);
        Assert.Equal(1, ((IvshmemLoopbackLink)_hub.Join()).OwnId); // its id is free again
    }

    [Fact]
    public void Notify_out_of_range_is_dropped_and_reset_masks_every_vector_again()
    {
        _b.Notify(4);
        _b.Notify(-1);
        Assert.Equal(2, _b.NotificationsDropped);

        _fb.ConfigureInterrupts(PciInterruptKind.MsiX, 4);
        _fb.Reset(PciResetKind.Conventional);
        Assert.False(_b.MsiX!.Enabled);
        for (int v = 0; v < 4; v++) Assert.True(_b.MsiX.IsVectorMasked(v));
        Assert.Equal(0, _fb.ConfigRead16(PciHeader.Command) & (int)PciCommand.BusMaster);
    }
}
