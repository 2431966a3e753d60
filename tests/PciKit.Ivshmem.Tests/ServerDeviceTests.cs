using PciKit.Device;
using PciKit.Devices.Ivshmem;
using PciKit.Driver;
using PciKit.Host;
using R = PciKit.Devices.Ivshmem.IvshmemDevice.Registers;

namespace PciKit.Ivshmem.Tests;

/// <summary>
/// PciKit's ivshmem device model as a peer of an ivshmem server, driven through the driver API in process, with a host
/// program on the same server: IVPosition is the server's id, BAR2 is the server's memory, doorbells go both ways.
/// </summary>
public sealed class ServerDeviceTests : IDisposable
{
    private readonly Scratch _scratch = new();
    private readonly PciHostBus _bus = new();

    public void Dispose()
    {
        _bus.Dispose();
        _scratch.Dispose();
    }

    private PciFunction Open(IvshmemDevice device)
    {
        var function = _bus.GetFunction(_bus.Attach(device));
        function.Open();
        function.SetDecoding(true);
        return function;
    }

    [Fact]
    public void The_device_takes_its_id_memory_and_vectors_from_the_server_and_rings_both_ways()
    {
        using var server = _scratch.StartServer(vectors: 2, size: 1 << 20);
        using var host = IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 2 });
        using var joined = IvshmemServerDevice.Connect(_scratch.Socket, options: new IvshmemPeerOptions { Vectors = 2 });
        using var function = Open(joined.Device);
        Wait.Until(() => host.Peers.Count == 1, "the host peer learns of the device");

        Assert.Equal((uint)joined.Peer.Id, function.MemoryRead32(0, R.IVPosition));
        Assert.Equal(1u, function.MemoryRead32(0, R.IVPosition)); // the host came first: id 0
        Assert.Equal(1UL << 20, function.GetBarInfo(2).Size);

        // BAR2 is the server's memory: what the driver writes, the host reads, and back.
        using var bar2 = function.MapBar(2);
        bar2.Write<ulong>(0x100, 0x1234_5678_9ABC_DEF0);
        Assert.Equal(0x1234_5678_9ABC_DEF0UL, host.SharedMemory.Read<ulong>(0x100));
        host.SharedMemory.Write<uint>(0x200, 0xFEED_F00D);
        Assert.Equal(0xFEED_F00Du, bar2.Read<uint>(0x200));

        // Host → device: a ring on the device's vector 1 raises MSI-X vector 1.
        var vectors = function.ConfigureInterrupts(PciInterruptKind.MsiX, 2);
        function.SetBusMaster(true);
        host.Ring(joined.Peer.Id, 1);
        Assert.Equal(1, vectors[1].Wait(Wait.Timeout));
        Assert.Equal(0, vectors[0].Take());

        // Device → host: a Doorbell write rings the host's vector 0.
        function.MemoryWrite32(0, R.Doorbell, (uint)(host.Id << 16 | 0));
        Assert.Equal(1UL, host.Vectors[0].Wait(Wait.Timeout));
        Assert.Equal(1, joined.Device.DoorbellsRung);
    }

    [Fact]
    public void A_doorbell_to_a_peer_that_is_not_there_is_ignored_and_the_device_keeps_working()
    {
        using var server = _scratch.StartServer(vectors: 1);
        using var joined = IvshmemServerDevice.Connect(_scratch.Socket, options: new IvshmemPeerOptions { Vectors = 1 });
        using var function = Open(joined.Device);

        function.MemoryWrite32(0, R.Doorbell, 7u << 16); // nobody is peer 7
        function.MemoryWrite32(0, R.Doorbell, (uint)(joined.Peer.Id << 16 | 5)); // no vector 5
        Assert.Equal(0, joined.Device.DoorbellsRung);

        using var host = IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 1 });
        Wait.Until(() => joined.Peer.Peers.Count == 1, "the device's peer learns of the host");
        function.MemoryWrite32(0, R.Doorbell, (uint)(host.Id << 16));
        Assert.Equal(1UL, host.Vectors[0].Wait(Wait.Timeout));
    }

    [Fact]
    public void Leaving_is_announced_to_the_other_peers()
    {
        using var server = _scratch.StartServer(vectors: 1);
        using var host = IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 1 });
        var joined = IvshmemServerDevice.Connect(_scratch.Socket, options: new IvshmemPeerOptions { Vectors = 1 });
        Wait.Until(() => host.Peers.Count == 1, "the host learns of the device");
        joined.Dispose();
        Wait.Until(() => host.Peers.Count == 0, "the host learns the device left");
    }

    [Fact]
    public void Plain_does_not_join_a_server()
    {
        var e = Assert.Throws<ArgumentException>(() => IvshmemServerDevice.Connect(_scratch.Socket, IvshmemVariant.Plain));
        Assert.Contains("Doorbell", e.Message);
    }
}
