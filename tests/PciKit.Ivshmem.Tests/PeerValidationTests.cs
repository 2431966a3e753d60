using PciKit.Linux;

namespace PciKit.Ivshmem.Tests;

/// <summary>
/// IvshmemPeer against a scripted fake server: every value and descriptor the server sends is validated, a violation is a
/// clear <see cref="IvshmemProtocolException"/> and the connection is closed — during setup and afterwards.
/// </summary>
public sealed class PeerValidationTests : IDisposable
{
    private readonly Scratch _scratch = new();
    private readonly UnixSocket _listener;
    private readonly SafeFd _shm;

    public PeerValidationTests()
    {
        _listener = UnixSocket.Listen(_scratch.Socket);
        _shm = SharedMemory.CreateMemFd("fake-ivshmem", 1 << 16);
    }

    public void Dispose()
    {
        _shm.Dispose();
        _listener.Dispose();
        _scratch.Dispose();
    }

    public static TheoryData<string, long[], string> BadSetups() => new()
    {
        // name, script (see Serve: -1 sends the shm fd, e<id> = eventfd for id is encoded as id + 1_000_000), expected text
        { "wrong version", [1], "protocol version 1, expecting 0" },
        { "id above 65535", [0, 65536], "invalid ID message (65536)" },
        { "negative id", [0, -1], "invalid ID message (-1" },
        { "value below -1", [0, 3, -2], "invalid message -2" },
        { "value above 65535", [0, 3, 70000], "invalid message 70000" },
        { "second shared memory", [0, 3, -1, -1], "second shared-memory message" },
        { "shm without fd", [0, 3, -2_000_001], "shared-memory message without a descriptor" },
        { "too many eventfds for another peer", [0, 3, -1, 1_000_005, 1_000_005, 1_000_005], "more eventfds for peer 5 than the 2 vector(s)" },
        { "own departure", [0, 3, -1, 3], "departure of this peer's own id 3" },
        { "hang-up before setup ends", [0, 3], "closed the connection before sending the shared memory" },
        { "hang-up before own vectors", [0, 3, -1, 1_000_003], "closed the connection during setup" },
    };

    [Theory]
    [MemberData(nameof(BadSetups))]
    public async Task A_bad_setup_is_refused_with_a_clear_message(string name, long[] script, string expected)
    {
        _ = name;
        var server = Task.Factory.StartNew(() => Serve(script, hangUp: true), TaskCreationOptions.LongRunning); // its own thread: a busy thread pool must not delay the script past the timeout
        var e = Assert.Throws<IvshmemProtocolException>(() => IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions
        {
            Vectors = 2,
            ConnectTimeout = TimeSpan.FromSeconds(2),
        }));
        Assert.Contains(expected, e.Message);
        Assert.Contains("closing the connection", e.Message);
        await server.WaitAsync(Wait.Timeout);
    }

    [Fact]
    public async Task A_server_that_stops_sending_during_setup_times_out_with_what_arrived()
    {
        var server = Task.Factory.StartNew(() => Serve([0, 3, -1, 1_000_003], hangUp: false), TaskCreationOptions.LongRunning); // its own thread: a busy thread pool must not delay the script past the timeout
        var e = Assert.Throws<IvshmemProtocolException>(() => IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions
        {
            Vectors = 2,
            ConnectTimeout = TimeSpan.FromSeconds(1),
        }));
        Assert.Contains("sent 1 of this peer's 2 eventfds within 1 s", e.Message);
        await server.WaitAsync(Wait.Timeout);
    }

    [Fact]
    public async Task More_own_eventfds_than_vectors_after_setup_fault_the_connection()
    {
        var server = Task.Factory.StartNew(() => Serve([0, 3, -1, 1_000_003, 1_000_003, 1_000_003], hangUp: false), TaskCreationOptions.LongRunning); // its own thread: a busy thread pool must not delay the script past the timeout
        using var peer = IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 2 });
        var fault = await Assert.ThrowsAsync<IvshmemProtocolException>(() => peer.Completion.WaitAsync(Wait.Timeout));
        Assert.Contains("more eventfds for peer 3 than the 2 vector(s)", fault.Message);
        await server.WaitAsync(Wait.Timeout); // the peer hung up, which ends the fake server's wait
    }

    [Fact]
    public async Task A_message_with_two_descriptors_is_refused()
    {
        var server = Task.Run(() =>
        {
            using var s = _listener.Accept();
            SendValue(s, 0);
            SendValue(s, 0);
            using var e1 = new EventFd();
            var minusOne = new byte[8];
            minusOne.AsSpan().Fill(0xFF);
            s.SendAll(minusOne, [_shm, e1.Handle]); // -1 with two descriptors
            s.WaitReadable(5000);
        });
        var e = Assert.Throws<IvshmemProtocolException>(() => IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 1 }));
        Assert.Contains("more than one descriptor", e.Message);
        await server.WaitAsync(Wait.Timeout);
    }

    [Fact]
    public async Task A_message_split_across_writes_is_reassembled()
    {
        var server = Task.Run(() =>
        {
            using var s = _listener.Accept();
            SendValue(s, 0);
            var id = new byte[8];
            id[0] = 9;
            s.SendAll(id.AsSpan(0, 3));
            Thread.Sleep(50);
            s.SendAll(id.AsSpan(3));
            SendValue(s, -1, _shm);
            s.WaitReadable(5000);
        });
        using var peer = IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 0 });
        Assert.Equal(9, peer.Id);
        Assert.Equal(1UL << 16, peer.SharedMemorySize);
        peer.Dispose();
        await server.WaitAsync(Wait.Timeout);
    }

    [Fact]
    public async Task A_violation_after_setup_closes_the_connection_and_faults_completion()
    {
        using var accepted = new SemaphoreSlim(0);
        UnixSocket? conn = null;
        var server = Task.Run(() =>
        {
            conn = _listener.Accept();
            SendValue(conn, 0);
            SendValue(conn, 4);
            SendValue(conn, -1, _shm);
            using var e = new EventFd();
            SendValue(conn, 4, e.Handle);
            accepted.Release();
        });
        using var peer = IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 1 });
        await server.WaitAsync(Wait.Timeout);
        SendValue(conn!, -1, _shm); // a second shared-memory message, after setup
        var fault = await Assert.ThrowsAsync<IvshmemProtocolException>(() => peer.Completion.WaitAsync(Wait.Timeout));
        Assert.Contains("second shared-memory message", fault.Message);
        Assert.False(peer.IsConnected);
        Assert.True(conn!.WaitReadable(5000));
        Assert.Equal(0, conn.Receive(new byte[8], new ReceivedFds(0))); // the peer hung up
        conn.Dispose();
    }

    [Fact]
    public async Task A_departure_of_an_unknown_peer_is_ignored()
    {
        UnixSocket? conn = null;
        var server = Task.Run(() =>
        {
            conn = _listener.Accept();
            SendValue(conn, 0);
            SendValue(conn, 0);
            SendValue(conn, -1, _shm);
            using var own = new EventFd();
            SendValue(conn, 0, own.Handle);
        });
        using var peer = IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 1 });
        await server.WaitAsync(Wait.Timeout);
        SendValue(conn!, 77); // never announced (e.g. a peer without vectors)
        using var e = new EventFd();
        SendValue(conn!, 5, e.Handle);
        Wait.Until(() => peer.Peers.Count == 1, "the next message is still processed");
        Assert.True(peer.IsConnected);
        conn!.Dispose();
    }

    private void Serve(long[] script, bool hangUp)
    {
        using var s = _listener.Accept();
        var eventFds = new List<EventFd>();
        try
        {
            foreach (long v in script)
            {
                if (v == -1) SendValue(s, -1, _shm);
                else if (v == -2_000_001) SendValue(s, -1);
                else if (v >= 1_000_000)
                {
                    var e = new EventFd();
                    eventFds.Add(e);
                    SendValue(s, v - 1_000_000, e.Handle);
                }
                else SendValue(s, v);
            }

            if (hangUp) return;
            // Stay silent until the peer gives up (it closes), or the test times out.
            s.WaitReadable(10_000);
        }
        catch (LinuxException)
        {
            // The peer closed while we were still sending: fine.
        }
        finally
        {
            eventFds.ForEach(e => e.Dispose());
        }
    }

    private static void SendValue(UnixSocket s, long value, SafeFd? fd = null)
    {
        var bytes = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        if (fd is null) s.SendAll(bytes);
        else s.SendAll(bytes, [fd]);
    }
}
