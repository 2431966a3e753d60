using PciKit.Config;
using PciKit.Devices.Ivshmem;
using PciKit.Driver;
using PciKit.Host;
using PciKit.Linux.Memory;
using PciKit.UserClient.Protocol;
using PciKit.Linux;

namespace PciKit.UserClient.Tests;

/// <summary>Tests that count process-wide descriptors run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FdCountingCollection
{
    public const string Name = "fd counting";
}

/// <summary>An ivshmem device with memfd shared memory on an in-process bus, its BAR2 mapped by a driver, and a service offering it.</summary>
internal sealed class DriverFixture : IDisposable
{
    public const ulong Size = 1 << 16;
    private readonly string _dir = Directory.CreateTempSubdirectory("pkuc").FullName;
    private readonly PciHostBus _bus = new();

    public DriverFixture(UserClientServiceOptions? options = null)
    {
        Memory = MappedMemoryBlock.CreateShared("pk-ivshmem-test", Size);
        Device = new IvshmemDevice(new IvshmemOptions { SharedMemory = Memory });
        Function = _bus.GetFunction(_bus.Attach(Device));
        Function.Open();
        Function.SetCommand(PciCommand.MemorySpace);
        Bar2 = Function.MapBar(2);
        Service = UserClientService.Start(Path.Combine(_dir, "uc.sock"), options);
        Service.AddMemory(0, Bar2);
    }

    public MappedMemoryBlock Memory { get; }
    public IvshmemDevice Device { get; }
    public PciFunction Function { get; }
    public PciMemoryMapping Bar2 { get; }
    public UserClientService Service { get; }
    public string SocketPath => Service.SocketPath;

    private bool _disposed;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Service.Dispose();
        Function.Dispose();
        _bus.Dispose();
        Memory.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>A client that speaks raw bytes, for malformed requests.</summary>
internal sealed class RawClient(UnixSocket socket) : IDisposable
{
    private readonly ReceivedFds _fds = new(4);

    public static RawClient Connect(string path) => new(UnixSocket.Connect(path));

    public UnixSocket Socket => socket;

    public static byte[] Request(uint magic = UserClientWire.Magic, ushort version = UserClientWire.Version, ushort command = UserClientWire.MapMemoryCommand, uint type = 0, uint flags = 0)
    {
        var b = new byte[UserClientWire.RequestSize];
        UserClientWire.WriteRequest(b, command, type, flags);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b, magic);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(4), version);
        return b;
    }

    /// <summary>Sends <paramref name="request"/> and reads one reply: its header, message and how many fds came with it.</summary>
    public (UserClientWire.Reply Reply, string Message, int Fds) Exchange(byte[] request, ReadOnlySpan<SafeFd> sendFds = default)
    {
        _fds.Clear();
        socket.SendAll(request, sendFds);
        var header = new byte[UserClientWire.ReplyHeaderSize];
        ReadExactly(header);
        Assert.True(UserClientWire.TryReadReply(header, out var reply, out string? error), error);
        var message = new byte[reply.MessageLength];
        ReadExactly(message);
        int fds = _fds.Count;
        _fds.Clear();
        return (reply, System.Text.Encoding.UTF8.GetString(message), fds);
    }

    /// <summary>True when the service closed the connection (reads end of stream).</summary>
    public bool WasClosedByPeer()
    {
        Assert.True(socket.WaitReadable(30_000), "the service neither answered nor closed the connection");
        return socket.Receive(new byte[1], _fds) == 0;
    }

    private void ReadExactly(Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            Assert.True(socket.WaitReadable(30_000), "no reply within 30 s");
            int n = socket.Receive(destination, _fds);
            Assert.True(n > 0, "the service closed the connection");
            destination = destination[n..];
        }
    }

    public void Dispose()
    {
        _fds.Dispose();
        socket.Dispose();
    }
}
