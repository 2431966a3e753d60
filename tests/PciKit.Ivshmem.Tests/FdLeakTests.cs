using PciKit.Testing;
using PciKit.Linux;

namespace PciKit.Ivshmem.Tests;

/// <summary>Every descriptor the server and the peers open is closed again: start/connect/ring/leave/stop cycles.</summary>
[Collection(SerialCollection.Name)]
public sealed class FdLeakTests : IDisposable
{
    private readonly Scratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public void Server_and_peer_cycles_leave_no_descriptor_behind()
    {
        Cycle(); // warms up the epoll thread and the runtime
        var before = FdSnapshot.Settle();
        for (int i = 0; i < 15; i++) Cycle();
        FdSnapshot.AssertReturnsTo(before);
    }

    [Fact]
    public void Misbehaving_and_departing_peers_leave_no_descriptor_in_the_server()
    {
        using var server = IvshmemServer.Start(_scratch.Options(vectors: 4));
        using var stays = IvshmemPeer.Connect(_scratch.Socket);
        int rounds = 0;
        MisbehaveOnce(); // warm-up
        Settled();
        var before = FdSnapshot.Settle();
        for (int i = 0; i < 10; i++) MisbehaveOnce();
        Settled();
        FdSnapshot.AssertReturnsTo(before);

        // Departures are processed asynchronously by the server and by the staying peer: count only once both did.
        void Settled() => Wait.Until(() => server.PeerIds.Count == 1 && stays.Peers.Count == 0, "only the staying peer is left, and it knows");

        void MisbehaveOnce()
        {
            // The previous round's leaving peer may still be in the server's list (its hang-up is processed asynchronously),
            // and the raw peer's setup lists every peer present: start only once the server has seen both of the previous
            // round's peers leave. Ids then come from a counter that never wrapped here: stays is 0, round r uses 2r+1 and 2r+2.
            Wait.Until(() => server.Counters.PeersLeft == 2 * rounds, $"the server saw the {2 * rounds} peers of earlier rounds leave");
            int next = 2 * rounds + 1;
            rounds++;
            using (var peer = RawPeer.Connect(_scratch.Socket))
            {
                ServerProtocolTests.Setup(peer, next, [stays.Id], vectors: 4);
                using var extra = new EventFd();
                peer.Socket.Send(new byte[3], [extra.Handle]); // bytes and a descriptor: dropped, descriptor closed
                Assert.True(peer.WasClosed());
            }

            using var leaves = IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 4 });
            leaves.Ring(stays.Id, 3);
            Assert.Equal(1UL, stays.Vectors[3].Wait(Wait.Timeout));
        }
    }

    [Fact]
    public void Failed_connects_leave_no_descriptor_behind()
    {
        using var listener = UnixSocket.Listen(_scratch.Socket);
        using var shm = SharedMemory.CreateMemFd("leak", 4096);
        Attempt();
        var before = FdSnapshot.Settle();
        for (int i = 0; i < 10; i++) Attempt();
        FdSnapshot.AssertReturnsTo(before);

        void Attempt()
        {
            var server = Task.Run(() =>
            {
                using var s = listener.Accept();
                Send(s, 0); Send(s, 1); Send(s, -1, shm);
                using var e = new EventFd();
                Send(s, 0, e.Handle); Send(s, 0, e.Handle); Send(s, 0, e.Handle); // 3 > 2 vectors
                s.WaitReadable(5000);
            });
            Assert.Throws<IvshmemProtocolException>(() => IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 2 }));
            server.Wait(Wait.Timeout);
        }
    }

    private void Cycle()
    {
        using var server = IvshmemServer.Start(_scratch.Options(vectors: 2));
        var a = IvshmemPeer.Connect(_scratch.Socket);
        using var b = IvshmemPeer.Connect(_scratch.Socket);
        a.Vectors[0].Signaled += (_, _) => { };
        a.SharedMemory.Write(0, 1);
        using (var extra = a.MapSharedMemory()) extra.Write(8, 2);
        b.Ring(a.Id, 0);
        b.Ring(a.Id, 1);
        Assert.Equal(1UL, a.Vectors[1].Wait(Wait.Timeout));
        Wait.Until(() => a.Vectors[0].TotalSignals == 1, "the handler's reader consumed vector 0");
        a.Dispose();
        Wait.Until(() => b.Peers.Count == 0, "peer 1 learns that peer 0 left");
    }

    private static void Send(UnixSocket s, long value, SafeFd? fd = null)
    {
        var bytes = BitConverter.GetBytes(value);
        if (fd is null) s.SendAll(bytes); else s.SendAll(bytes, [fd]);
    }
}
