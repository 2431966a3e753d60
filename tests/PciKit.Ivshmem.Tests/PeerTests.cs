using PciKit.Testing;
using PciKit.Linux;
using PciKit.Memory;

namespace PciKit.Ivshmem.Tests;

/// <summary>IvshmemPeer against IvshmemServer in one process: ids, peers, doorbells, shared memory.</summary>
public sealed class PeerTests : IDisposable
{
    private readonly Scratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public void Connect_reads_id_vectors_memory_and_the_peers_already_there()
    {
        using var server = _scratch.StartServer(vectors: 3, size: 3 << 20);
        using var a = IvshmemPeer.Connect(_scratch.Socket);
        using var b = IvshmemPeer.Connect(_scratch.Socket);
        Assert.Equal(0, a.Id);
        Assert.Equal(1, b.Id);
        Assert.Equal(3, a.VectorCount);     // learned by settling (alone on the server)
        Assert.Equal(3, b.VectorCount);     // learned from peer 0's eventfds
        Assert.Equal(4UL << 20, b.SharedMemorySize); // 3 MiB rounded up to a power of two
        Assert.Equal([new IvshmemRemotePeer(0, 3)], b.Peers);
        Wait.Until(() => a.Peers.SequenceEqual([new IvshmemRemotePeer(1, 3)]), "peer 0 learns of peer 1");
        Assert.True(a.IsConnected);
    }

    [Fact]
    public async Task Ring_signals_exactly_that_vector_of_that_peer_and_wait_returns_the_count()
    {
        using var server = _scratch.StartServer(vectors: 2);
        using var a = IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 2 });
        using var b = IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 2 });
        Wait.Until(() => a.Peers.Count == 1, "peer 0 learns of peer 1");

        a.Ring(1, 1);
        a.Ring(1, 1);
        a.Ring(1, 1);
        Assert.Equal(3UL, b.Vectors[1].Wait(Wait.Timeout));
        Assert.Equal(0UL, b.Vectors[0].Wait(TimeSpan.FromMilliseconds(50)));

        b.Ring(0, 0);
        Assert.Equal(1UL, await a.Vectors[0].WaitAsync().AsTask().WaitAsync(Wait.Timeout));
        Assert.Equal(1, a.Vectors[0].TotalSignals);
        Assert.Equal(3, b.Vectors[1].TotalSignals);
        Assert.Equal(0, b.Vectors[0].TotalSignals);

        a.Ring(a.Id, 1); // a peer may ring itself, as a guest may write its own id to Doorbell
        Assert.Equal(1UL, a.Vectors[1].Wait(Wait.Timeout));
    }

    [Fact]
    public async Task Signaled_handlers_see_every_ring_and_async_waiters_get_the_same_counts()
    {
        using var server = _scratch.StartServer(vectors: 1);
        using var a = IvshmemPeer.Connect(_scratch.Socket);
        using var b = IvshmemPeer.Connect(_scratch.Socket);
        var seen = new TaskCompletionSource();
        long handled = 0;
        b.Vectors[0].Signaled += (v, count) =>
        {
            Assert.Equal(0, v.Index);
            if (Interlocked.Add(ref handled, (long)count) == 10) seen.TrySetResult();
        };
        Wait.Until(() => a.Peers.Count == 1, "peer 0 learns of peer 1");
        var waited = b.Vectors[0].WaitAsync().AsTask();
        for (int i = 0; i < 10; i++)
        {
            a.Ring(1, 0);
        }

        await seen.Task.WaitAsync(Wait.Timeout);
        Assert.InRange(await waited.WaitAsync(Wait.Timeout), 1UL, 10UL);
        Assert.Equal(10, b.Vectors[0].TotalSignals);
    }

    [Fact]
    public async Task A_cancelled_wait_takes_nothing()
    {
        using var server = _scratch.StartServer(vectors: 1);
        using var a = IvshmemPeer.Connect(_scratch.Socket);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await a.Vectors[0].WaitAsync(cts.Token));
        a.Ring(0, 0);
        Assert.Equal(1UL, await a.Vectors[0].WaitAsync().AsTask().WaitAsync(Wait.Timeout));
    }

    [Fact]
    public void Ringing_an_unknown_peer_or_vector_throws_a_doorbell_exception_that_lists_what_exists()
    {
        using var server = _scratch.StartServer(vectors: 2);
        using var a = IvshmemPeer.Connect(_scratch.Socket);
        using var b = IvshmemPeer.Connect(_scratch.Socket);
        var noPeer = Assert.Throws<IvshmemDoorbellException>(() => b.Ring(7, 0));
        Assert.Equal(7, noPeer.PeerId);
        Assert.Contains("Peer 7 is not connected", noPeer.Message);
        Assert.Contains("other peers: 0", noPeer.Message);
        var noVector = Assert.Throws<IvshmemDoorbellException>(() => b.Ring(0, 2));
        Assert.Equal(2, noVector.Vector);
        Assert.Contains("has 2 vector(s); vector 2 does not exist", noVector.Message);
        Assert.False(b.TryRing(0, -1));
        Assert.False(b.TryRing(65536, 0));
        Assert.True(b.TryRing(0, 1));
    }

    [Fact]
    public async Task Arrivals_and_departures_raise_events_and_update_the_peer_list()
    {
        using var server = _scratch.StartServer(vectors: 2);
        using var a = IvshmemPeer.Connect(_scratch.Socket);
        var joined = new TaskCompletionSource<int>();
        var left = new TaskCompletionSource<int>();
        a.PeerConnected += (_, e) => joined.TrySetResult(e.PeerId);
        a.PeerDisconnected += (_, e) => left.TrySetResult(e.PeerId);

        var b = IvshmemPeer.Connect(_scratch.Socket);
        Assert.Equal(1, await joined.Task.WaitAsync(Wait.Timeout));
        Assert.Equal([new IvshmemRemotePeer(1, 2)], a.Peers); // complete when the event fires
        a.Ring(1, 1);
        b.Dispose();
        Assert.Equal(1, await left.Task.WaitAsync(Wait.Timeout));
        Assert.Empty(a.Peers);
        Assert.Throws<IvshmemDoorbellException>(() => a.Ring(1, 1));
    }

    [Fact]
    public void Shared_memory_is_one_bounds_checked_shareable_block_seen_by_every_peer_and_the_server()
    {
        using var server = _scratch.StartServer(vectors: 1, size: 2 << 20);
        using var a = IvshmemPeer.Connect(_scratch.Socket);
        using var b = IvshmemPeer.Connect(_scratch.Socket);
        a.SharedMemory.CopyFrom(0x1000, "hello from a"u8);
        Assert.Equal("hello from a"u8.ToArray(), b.SharedMemory.GetSpan(0x1000, 12).ToArray());
        b.SharedMemory.Write((2UL << 20) - 8, 0xCAFEF00DUL);
        using (var view = server.MapSharedMemory())
        {
            Assert.Equal(0xCAFEF00DUL, view.Read<ulong>((2UL << 20) - 8));
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => a.SharedMemory.Read<ulong>((2UL << 20) - 4));
        IShareableMemory shareable = a.SharedMemory;
        Assert.False(shareable.FileHandle.IsInvalid);
        Assert.Equal(2UL << 20, ((SafeFd)shareable.FileHandle).GetSize());

        // An independent mapping owned by the caller outlives the peer.
        var own = b.MapSharedMemory();
        b.Dispose();
        Assert.Equal("hello from a"u8.ToArray(), own.GetSpan(0x1000, 12).ToArray());
        own.Dispose();
        Assert.Throws<ObjectDisposedException>(() => own.Read<byte>(0));
    }

    [Fact]
    public void Dispose_fails_pending_waits_and_tells_the_server()
    {
        using var server = _scratch.StartServer(vectors: 1);
        var a = IvshmemPeer.Connect(_scratch.Socket);
        var pending = a.Vectors[0].WaitAsync().AsTask();
        Wait.Until(() => server.PeerIds.Count == 1, "the server lists the peer");
        a.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pending.GetAwaiter().GetResult());
        Assert.Throws<ObjectDisposedException>(() => a.Ring(0, 0));
        Wait.Until(() => server.PeerIds.Count == 0, "the server dropped the peer");
        Assert.True(a.Completion.IsCompleted);
    }

    [Fact]
    public async Task Dispose_wakes_a_thread_blocked_in_an_infinite_wait()
    {
        using var server = _scratch.StartServer(vectors: 1);
        var a = IvshmemPeer.Connect(_scratch.Socket);
        var blocked = Task.Factory.StartNew(() => a.Vectors[0].Wait(), TaskCreationOptions.LongRunning);
        await Task.Delay(200);
        Assert.False(blocked.IsCompleted);
        a.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => blocked.WaitAsync(Wait.Timeout));
    }

    [Fact]
    public async Task A_handler_added_during_a_synchronous_wait_starts_after_it_and_misses_nothing_later()
    {
        using var server = _scratch.StartServer(vectors: 1);
        using var a = IvshmemPeer.Connect(_scratch.Socket);
        using var b = IvshmemPeer.Connect(_scratch.Socket);
        Wait.Until(() => a.Peers.Count == 1, "peer 0 learns of peer 1");
        var direct = Task.Factory.StartNew(() => b.Vectors[0].Wait(Wait.Timeout), TaskCreationOptions.LongRunning);
        await Task.Delay(100);
        long handled = 0;
        var three = new TaskCompletionSource();
        b.Vectors[0].Signaled += (_, n) => { if (Interlocked.Add(ref handled, (long)n) == 3) three.TrySetResult(); };
        a.Ring(1, 0);
        Assert.Equal(1UL, await direct.WaitAsync(Wait.Timeout)); // the first ring went to the synchronous waiter
        for (int i = 0; i < 3; i++) a.Ring(1, 0);
        await three.Task.WaitAsync(Wait.Timeout);             // later rings reach the handler
        Assert.Equal(4, b.Vectors[0].TotalSignals);
    }

    [Fact]
    public async Task Completion_finishes_when_the_server_stops_and_known_peers_stay_ringable()
    {
        var server = _scratch.StartServer(vectors: 1);
        using var a = IvshmemPeer.Connect(_scratch.Socket);
        using var b = IvshmemPeer.Connect(_scratch.Socket);
        Wait.Until(() => a.Peers.Count == 1, "peer 0 learns of peer 1");
        server.Dispose();
        await a.Completion.WaitAsync(Wait.Timeout);
        Assert.False(a.IsConnected);
    }

    [Fact]
    public void Throwing_event_handlers_are_logged_and_neither_the_server_nor_the_peer_stops()
    {
        var log = new ListLog();
        using var server = IvshmemServer.Start(_scratch.Options(vectors: 1) with { Log = log });
        server.PeerConnected += (_, _) => throw new InvalidOperationException("server handler");
        using var a = IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Log = log });
        a.PeerConnected += (_, _) => throw new InvalidOperationException("peer handler");
        a.Vectors[0].Signaled += (_, _) => throw new InvalidOperationException("vector handler");
        using var b = IvshmemPeer.Connect(_scratch.Socket);
        Wait.Until(() => a.Peers.Count == 1, "peer 0 still learns of peer 1");
        b.Ring(0, 0);
        Wait.Until(() => log.Contains("vector handler"), "the vector handler's exception is logged");
        Assert.True(log.Contains("server handler") && log.Contains("peer handler"));
        using var c = IvshmemPeer.Connect(_scratch.Socket);
        Assert.Equal(2, c.Id);
        Assert.True(a.IsConnected);
    }

    [Fact]
    public void Connecting_where_no_server_listens_says_how_to_start_one()
    {
        var e = Assert.Throws<IvshmemException>(() => IvshmemPeer.Connect(_scratch.Socket));
        Assert.Contains("No ivshmem server listens at " + _scratch.Socket, e.Message);
        Assert.Contains("pcikit ivshmem-server", e.Message);
    }

    [Fact]
    public void Zero_vectors_connect_without_waiting_for_eventfds()
    {
        using var server = _scratch.StartServer(vectors: 0);
        using var a = IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 0 });
        using var b = IvshmemPeer.Connect(_scratch.Socket);
        Assert.Equal(0, a.VectorCount);
        Assert.Equal(0, b.VectorCount);
        Assert.Equal(1, b.Id);
        Assert.Empty(b.Peers); // with no vectors there is nothing to ring, so peers are not listed
    }

    [Fact]
    public void A_1_GiB_shared_memory_is_mapped_whole_and_bounds_checked_at_its_end()
    {
        using var server = _scratch.StartServer(vectors: 1, size: 1UL << 30); // sparse on tmpfs: only touched pages cost
        using var a = IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 1 });
        using var b = IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 1 });
        Assert.Equal(1UL << 30, b.SharedMemorySize);
        a.SharedMemory.Write<ulong>((1UL << 30) - 8, 0x1A57_B17E_0F_1_61B);
        a.SharedMemory.Write<ulong>(0, 0xF1257UL);
        Assert.Equal(0x1A57_B17E_0F_1_61BUL, b.SharedMemory.Read<ulong>((1UL << 30) - 8));
        Assert.Equal(0xF1257UL, b.SharedMemory.Read<ulong>(0));
        Assert.ThrowsAny<ArgumentException>(() => b.SharedMemory.Read<ulong>((1UL << 30) - 4)); // straddles the end
    }
}
