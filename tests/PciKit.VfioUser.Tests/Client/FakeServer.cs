using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;
using PciKit.Linux;
using PciKit.Linux.Memory;
using PciKit.VfioUser.Client;
using PciKit.VfioUser.Protocol;
using PciKit.VfioUser.Transport;

namespace PciKit.VfioUser.Tests.Client;

/// <summary>One message as the fake server received it: the exact bytes, the header, the payload and its fds.</summary>
internal sealed record Received(byte[] Raw, VfioUserHeader Header, byte[] Payload, SafeFd[] Fds) : IDisposable
{
    public void Dispose()
    {
        foreach (var fd in Fds) fd.Dispose();
    }
}

/// <summary>
/// The server end of a socketpair, scripted by a test: receive exactly what the client sends, answer with chosen
/// bytes (replies, error replies, server→client DMA commands, or a hang-up). <see cref="Handshake"/> plays a small
/// PCI device: region 0 is an mmap-able 8 KiB BAR whose second page is the only sparse-mmap area (the server makes the
/// client ask again for the capability), region 7 is a 256-byte config space, IRQs: INTx 1, MSI 1, MSI-X 4.
/// </summary>
internal sealed class FakeServer : IDisposable
{
    public const ulong Bar0Size = 0x2000;
    public const ulong Bar0FileOffset = 0x1000;
    public static readonly byte[] ClientVersionPayload = Bytes.Concat(Bytes.Hex("0000 0000"),
        Encoding.ASCII.GetBytes("{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,\"max_dma_maps\":65535,\"pgsizes\":4096}}\0"));

    private readonly MessageSocket _socket;

    private FakeServer(UnixSocket socket) => _socket = new MessageSocket(socket, 64, 2 << 20);

    /// <summary>The fake's BAR0 file: 0x1000 bytes of padding, then the BAR (so the region's mmap offset is not 0).</summary>
    public MappedMemoryBlock Bar0 { get; } = MappedMemoryBlock.CreateShared("fake-bar0", Bar0FileOffset + Bar0Size);

    public byte[] Config { get; } = new byte[256];

    public uint MaxMessageFds { get; set; } = 2;

    public static (FakeServer Server, UnixSocket ClientEnd) Create()
    {
        var (a, b) = UnixSocket.CreatePair();
        return (new FakeServer(a), b);
    }

    /// <summary>Runs <paramref name="script"/> on its own thread (the client blocks in the test thread).</summary>
    public Task Run(Action<FakeServer> script) => Task.Factory.StartNew(() => script(this), TaskCreationOptions.LongRunning);

    public Received Receive()
    {
        var r = _socket.Receive();
        if (r != ReceiveResult.Message) throw new InvalidOperationException($"fake server: receive {r}");
        var h = _socket.Header;
        var raw = new byte[h.MessageSize];
        h.Write(raw);
        _socket.Payload.CopyTo(raw.AsSpan(16));
        var fds = new SafeFd[_socket.Fds.Count];
        for (int i = 0; i < fds.Length; i++) fds[i] = _socket.Fds.Take(i);
        return new Received(raw, h, _socket.Payload.ToArray(), fds);
    }

    /// <summary>True when the client closed its end.</summary>
    public bool ReceiveClosed() => _socket.Receive() == ReceiveResult.Closed;

    public Received Expect(VfioUserCommand command)
    {
        var m = Receive();
        if (m.Header.Command != command) throw new InvalidOperationException($"fake server: expected {command}, got {m.Header.Command}");
        return m;
    }

    public void Reply(Received request, ReadOnlySpan<byte> payload, params SafeFd[] fds) =>
        _socket.Send(VfioUserHeader.ForReply(request.Header, payload.Length), payload, fds);

    public void ReplyError(Received request, int errno) => _socket.SendError(request.Header, errno);

    public void SendCommand(ushort id, VfioUserCommand command, ReadOnlySpan<byte> payload) =>
        _socket.Send(VfioUserHeader.ForCommand(id, command, payload.Length), payload);

    public void SendRaw(ReadOnlySpan<byte> bytes) => _socket.Socket.SendAll(bytes);

    public void HangUp() => _socket.Shutdown();

    /// <summary>Plays the connect sequence and returns the messages the client sent, in order (fds closed).</summary>
    public List<byte[]> Handshake()
    {
        var sent = new List<byte[]>();
        using (var v = Expect(VfioUserCommand.Version))
        {
            sent.Add(v.Raw);
            var caps = new VfioUserCapabilities { MaxMessageFds = MaxMessageFds };
            var reply = new byte[256];
            Reply(v, reply.AsSpan(0, new VfioUserVersion(0, 0, caps).Write(reply)));
        }
        using (var info = Expect(VfioUserCommand.DeviceGetInfo))
        {
            sent.Add(info.Raw);
            Reply(info, Bytes.Hex("10000000 03000000 09000000 05000000"));
        }
        for (uint i = 0; i < 9; i++)
        {
            using var m = Expect(VfioUserCommand.DeviceGetRegionInfo);
            sent.Add(m.Raw);
            uint argsz = BinaryPrimitives.ReadUInt32LittleEndian(m.Payload);
            var buffer = new byte[128];
            int n = i switch
            {
                0 => RegionInfo.WriteReply(buffer, argsz, 0, VfioRegionInfoFlags.Read | VfioRegionInfoFlags.Write | VfioRegionInfoFlags.Mmap,
                    Bar0Size, Bar0FileOffset, [new SparseMmapArea(0x1000, 0x1000)]),
                7 => RegionInfo.WriteReply(buffer, argsz, 7, VfioRegionInfoFlags.Read | VfioRegionInfoFlags.Write, 256, 0, []),
                _ => RegionInfo.WriteReply(buffer, argsz, i, 0, 0, 0, []),
            };
            if (i == 0) Reply(m, buffer.AsSpan(0, n), Bar0.Fd!); // the fd rides on every reply of an mmap-able region
            else Reply(m, buffer.AsSpan(0, n));
            if (i == 0 && argsz == RegionInfo.FixedSize) i--; // the client asks again with the argsz we named
        }
        for (uint i = 0; i < 5; i++)
        {
            using var m = Expect(VfioUserCommand.DeviceGetIrqInfo);
            sent.Add(m.Raw);
            var (flags, count) = i switch
            {
                0 => (VfioIrqInfoFlags.EventFd | VfioIrqInfoFlags.Maskable | VfioIrqInfoFlags.AutoMasked, 1u),
                1 => (VfioIrqInfoFlags.EventFd, 1u),
                2 => (VfioIrqInfoFlags.EventFd | VfioIrqInfoFlags.NoResize, 4u),
                _ => (VfioIrqInfoFlags.EventFd, 0u),
            };
            var reply = new byte[16];
            new IrqInfo(16, flags, i, count).Write(reply);
            Reply(m, reply);
        }
        return sent;
    }

    /// <summary>Answers REGION_READ of config space from <see cref="Config"/>.</summary>
    public void ServeConfigRead(Received m)
    {
        Assert.True(RegionAccess.TryParseRead(m.Payload, out var a, out _));
        Assert.Equal(VfioPciRegion.Config, a.Region);
        var reply = new byte[16 + a.Count];
        RegionAccess.WriteWithData(reply, a.Offset, a.Region, Config.AsSpan((int)a.Offset, (int)a.Count));
        Reply(m, reply);
    }

    /// <summary>Replies to anything with an empty (or echoed) success, for SET_IRQS, DMA_MAP/UNMAP and REGION_WRITE.</summary>
    public void ReplyOk(Received m)
    {
        switch (m.Header.Command)
        {
            case VfioUserCommand.DmaUnmap: Reply(m, m.Payload); break;
            case VfioUserCommand.RegionWrite: Reply(m, m.Payload.AsSpan(0, 16)); break;
            default: Reply(m, default); break;
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        Bar0.Dispose();
    }
}

/// <summary>Records Signal calls.</summary>
internal sealed class SignalRecorder : PciKit.Driver.IInterruptReceiver
{
    public ConcurrentQueue<int> Signals { get; } = new();
    public void Signal(int vector) => Signals.Enqueue(vector);

    public bool WaitFor(int count, TimeSpan timeout) => SpinWait.SpinUntil(() => Signals.Count >= count, timeout);
}

internal static class ClientTestSupport
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>Waits for a server script and rethrows its assertion failures.</summary>
    public static void Finish(Task script) => script.WaitAsync(Timeout).GetAwaiter().GetResult();

    /// <summary>Connects a client to a fake server that plays the handshake; returns both and the handshake bytes.</summary>
    public static (VfioUserClient Client, FakeServer Server, List<byte[]> Handshake) Connect(VfioUserClientOptions? options = null, uint serverMaxFds = 2)
    {
        var (server, end) = FakeServer.Create();
        server.MaxMessageFds = serverMaxFds;
        var handshake = Task.Factory.StartNew(server.Handshake, TaskCreationOptions.LongRunning);
        try
        {
            var client = VfioUserClient.Connect(end, options);
            return (client, server, handshake.GetAwaiter().GetResult());
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }
}
