using PciKit.Linux;

namespace PciKit.Ivshmem.Tests;

/// <summary>The server's wire protocol checked byte by byte with a hand-written peer (QEMU's message order).</summary>
public sealed class ServerProtocolTests : IDisposable
{
    private readonly Scratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public void First_peer_gets_version_id_shared_memory_then_its_own_eventfds()
    {
        using var server = _scratch.StartServer(vectors: 3, size: 1 << 20);
        using var peer = RawPeer.Connect(_scratch.Socket);

        peer.Expect(0, withFd: false);                        // protocol version
        peer.Expect(0, withFd: false);                        // its id
        using (SafeFd shm = peer.Expect(-1, withFd: true)!)  // the shared memory
        {
            Assert.Equal(1UL << 20, shm.GetSize());
        }

        for (int v = 0; v < 3; v++)
        {
            peer.Expect(0, withFd: true)!.Dispose();          // own vectors 0, 1, 2
        }

        Assert.True(peer.IsQuiet(), "nothing more after the setup");
        Wait.Until(() => server.PeerIds.SequenceEqual([0]), "the server lists peer 0");
    }

    [Fact]
    public void Second_peer_gets_the_first_peers_eventfds_before_its_own_and_the_first_learns_of_it()
    {
        using var server = _scratch.StartServer(vectors: 2);
        using var first = RawPeer.Connect(_scratch.Socket);
        first.Expect(0, false); first.Expect(0, false); first.Expect(-1, true)!.Dispose();
        using var firstOwn0 = EventFd.FromHandle(first.Expect(0, true)!);
        using var firstOwn1 = EventFd.FromHandle(first.Expect(0, true)!);

        using var second = RawPeer.Connect(_scratch.Socket);
        second.Expect(0, false);
        second.Expect(1, false);
        second.Expect(-1, true)!.Dispose();
        using var toFirst0 = EventFd.FromHandle(second.Expect(0, true)!);   // peer 0's vectors first
        using var toFirst1 = EventFd.FromHandle(second.Expect(0, true)!);
        using var secondOwn0 = EventFd.FromHandle(second.Expect(1, true)!); // then its own
        using var secondOwn1 = EventFd.FromHandle(second.Expect(1, true)!);
        Assert.True(second.IsQuiet());

        using var toSecond0 = EventFd.FromHandle(first.Expect(1, true)!);   // the first peer learns of peer 1
        using var toSecond1 = EventFd.FromHandle(first.Expect(1, true)!);
        Assert.True(first.IsQuiet());

        // The descriptors are the same eventfds: what one peer signals, the owner reads, vector by vector.
        toFirst1.Signal(5);
        Assert.True(firstOwn1.TryRead(out ulong got));
        Assert.Equal(5UL, got);
        Assert.False(firstOwn0.TryRead(out _));
        toSecond0.Signal();
        Assert.True(secondOwn0.TryRead(out got));
        Assert.Equal(1UL, got);
        Assert.False(secondOwn1.TryRead(out _));
    }

    [Fact]
    public void Shared_memory_is_the_same_object_for_every_peer()
    {
        using var server = _scratch.StartServer(vectors: 1, size: 64 << 10);
        using var a = RawPeer.Connect(_scratch.Socket);
        a.Expect(0, false); a.Expect(0, false);
        using var shmA = PciKit.Linux.Memory.MappedMemoryBlock.Map(a.Expect(-1, true)!, 0, 64 << 10, MappingAccess.ReadWrite, keepFd: true);
        using var b = RawPeer.Connect(_scratch.Socket);
        b.Expect(0, false); b.Expect(1, false);
        using var shmB = PciKit.Linux.Memory.MappedMemoryBlock.Map(b.Expect(-1, true)!, 0, 64 << 10, MappingAccess.ReadWrite, keepFd: true);
        shmA.Write(0xFFF8, 0x1122334455667788UL);
        Assert.Equal(0x1122334455667788UL, shmB.Read<ulong>(0xFFF8));
    }

    [Fact]
    public void A_departure_is_announced_to_the_others_as_the_id_without_a_descriptor()
    {
        using var server = _scratch.StartServer(vectors: 1);
        using var first = Setup(RawPeer.Connect(_scratch.Socket), id: 0, existing: []);
        var second = Setup(RawPeer.Connect(_scratch.Socket), id: 1, existing: [0]);
        using var third = Setup(RawPeer.Connect(_scratch.Socket), id: 2, existing: [0, 1]);
        first.Expect(1, true)!.Dispose();
        first.Expect(2, true)!.Dispose();
        second.Expect(2, true)!.Dispose();

        second.Dispose();
        first.Expect(1, withFd: false);
        third.Expect(1, withFd: false);
        Assert.True(first.IsQuiet() && third.IsQuiet());
        Wait.Until(() => server.PeerIds.SequenceEqual([0, 2]), "the server forgot peer 1");
    }

    [Fact]
    public void Ids_come_from_a_counter_and_a_freed_id_is_reused_only_when_the_counter_reaches_it()
    {
        using var server = _scratch.StartServer(vectors: 0);
        using var p0 = Setup(RawPeer.Connect(_scratch.Socket), 0, [], vectors: 0);
        var p1 = Setup(RawPeer.Connect(_scratch.Socket), 1, [0], vectors: 0);
        p1.Dispose();
        p0.Expect(1, false);
        using var p2 = Setup(RawPeer.Connect(_scratch.Socket), 2, [0], vectors: 0); // 1 is free, but the counter moved on (QEMU)

        // At the top of the id space the counter wraps and skips ids in use: 65535, then 1 (0 and 2 are taken).
        server.NextIdForTesting = 65535;
        using var top = Setup(RawPeer.Connect(_scratch.Socket), 65535, [0, 2], vectors: 0);
        using var wrapped = Setup(RawPeer.Connect(_scratch.Socket), 1, [0, 2, 65535], vectors: 0);
        // The server lists a newcomer just after its setup is sent: wait for the list rather than read it at once.
        Wait.Until(() => server.PeerIds.SequenceEqual([0, 2, 65535, 1]), "the server lists 0, 2, 65535 and 1 in arrival order");
    }

    [Fact]
    public async Task A_peer_that_sends_a_byte_is_dropped_and_announced_and_the_others_are_still_served()
    {
        using var server = _scratch.StartServer(vectors: 1);
        var left = new TaskCompletionSource<IvshmemServerPeerEventArgs>();
        server.PeerDisconnected += (_, e) => left.TrySetResult(e);
        using var good = Setup(RawPeer.Connect(_scratch.Socket), 0, []);
        using var bad = Setup(RawPeer.Connect(_scratch.Socket), 1, [0]);
        good.Expect(1, true)!.Dispose();

        bad.Socket.Send("x"u8);
        Assert.True(bad.WasClosed(), "the server closes the misbehaving peer's connection");
        good.Expect(1, withFd: false);
        var departure = await left.Task.WaitAsync(Wait.Timeout);
        Assert.Equal(IvshmemPeerLeftReason.SentData, departure.Reason);
        Assert.Equal(1, server.Counters.PeersDropped);

        // Still serving: a newcomer gets a full setup, the good peer learns of it.
        using var late = Setup(RawPeer.Connect(_scratch.Socket), 2, [0]);
        good.Expect(2, true)!.Dispose();
    }

    [Fact]
    public void A_peer_that_never_reads_does_not_stall_the_others()
    {
        var options = _scratch.Options(vectors: 64) with { MaxQueuedMessagesPerPeer = 100_000 };
        using var server = IvshmemServer.Start(options);
        using var stuck = RawPeer.Connect(_scratch.Socket); // reads nothing
        var peers = new List<RawPeer>();
        try
        {
            // Each newcomer sends 64 eventfds to the stuck peer: its socket buffer fills, the rest is queued.
            for (int i = 1; i <= 40; i++)
            {
                var p = RawPeer.Connect(_scratch.Socket);
                peers.Add(p);
                p.Expect(0, false);
                Assert.Equal(i, p.Read().Value);
                p.Expect(-1, true)!.Dispose();
            }

            Wait.Until(() => server.PeerIds.Count == 41, "41 peers are listed");
            // The stuck peer still gets everything, in order, once it reads.
            stuck.Expect(0, false);
            stuck.Expect(0, false);
            stuck.Expect(-1, true)!.Dispose();
            for (int v = 0; v < 64; v++) stuck.Expect(0, true)!.Dispose();
            for (int i = 1; i <= 40; i++)
            {
                for (int v = 0; v < 64; v++) stuck.Expect(i, true)!.Dispose();
            }
        }
        finally
        {
            peers.ForEach(p => p.Dispose());
        }
    }

    [Fact]
    public void Stopping_the_server_closes_peers_and_removes_the_socket_and_the_shm_name()
    {
        var server = _scratch.StartServer(vectors: 1);
        using var a = Setup(RawPeer.Connect(_scratch.Socket), 0, []);
        Assert.True(File.Exists(_scratch.Socket));
        Assert.True(File.Exists(_scratch.ShmPath));
        server.Dispose();
        Assert.True(a.WasClosed());
        Assert.False(File.Exists(_scratch.Socket));
        Assert.False(File.Exists(_scratch.ShmPath));
        Assert.True(server.Completion.IsCompletedSuccessfully);
    }

    /// <summary>Reads a complete setup: version, id, shm, each existing peer's vectors, then its own.</summary>
    internal static RawPeer Setup(RawPeer peer, int id, int[] existing, int vectors = 1)
    {
        peer.Expect(0, false);
        peer.Expect(id, false);
        peer.Expect(-1, true)!.Dispose();
        foreach (int other in existing.Append(id))
        {
            for (int v = 0; v < vectors; v++) peer.Expect(other, true)!.Dispose();
        }

        return peer;
    }
}
