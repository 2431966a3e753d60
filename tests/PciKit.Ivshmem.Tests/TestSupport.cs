using System.Buffers.Binary;
using System.Runtime.Versioning;
using PciKit.Linux;

[assembly: SupportedOSPlatform("linux")]

namespace PciKit.Ivshmem.Tests;

/// <summary>Tests that count process-wide descriptors or start processes run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "serial (fd counting, processes)";
}

/// <summary>A private directory for sockets plus a unique POSIX shm name; removes both.</summary>
internal sealed class Scratch : IDisposable
{
    public Scratch()
    {
        Dir = Directory.CreateTempSubdirectory("ivs").FullName;
        ShmName = "pcikit-test-" + Guid.NewGuid().ToString("N")[..12];
    }

    public string Dir { get; }

    public string ShmName { get; }

    public string Socket => Path.Combine(Dir, "ivshmem.sock");

    public string ShmPath => "/dev/shm/" + ShmName;

    public IvshmemServer StartServer(int vectors = 1, ulong size = 1 << 20) =>
        IvshmemServer.Start(Options(vectors, size));

    public IvshmemServerOptions Options(int vectors = 1, ulong size = 1 << 20) => new()
    {
        SocketPath = Socket,
        SharedMemoryName = ShmName,
        Size = size,
        Vectors = vectors,
    };

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
        try { File.Delete(ShmPath); } catch (IOException) { }
    }
}

internal static class Wait
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    public static void Until(Func<bool> condition, string what)
    {
        Assert.True(SpinWait.SpinUntil(condition, Timeout), $"timed out waiting until {what}");
    }
}

/// <summary>
/// A peer that speaks the protocol by hand, to check the server byte by byte: reads exactly 8 bytes per message and the
/// descriptors that arrived with them.
/// </summary>
internal sealed class RawPeer : IDisposable
{
    private readonly ReceivedFds _fds = new(4);

    private RawPeer(UnixSocket socket) => Socket = socket;

    public UnixSocket Socket { get; }

    public static RawPeer Connect(string path) => new(UnixSocket.Connect(path));

    /// <summary>One message: the int64 and the descriptors that came with its bytes (caller owns them).</summary>
    public (long Value, SafeFd[] Fds) Read(TimeSpan? timeout = null)
    {
        Span<byte> buffer = stackalloc byte[8];
        int got = 0;
        _fds.Clear();
        while (got < 8)
        {
            Assert.True(Socket.WaitReadable((int)(timeout ?? Wait.Timeout).TotalMilliseconds), $"no message from the server (got {got} bytes)");
            int n = Socket.Receive(buffer[got..], _fds);
            Assert.True(n > 0, "the server closed the connection");
            got += n;
        }

        Assert.Equal(FdTransferStatus.Ok, _fds.Status);
        var fds = new SafeFd[_fds.Count];
        for (int i = 0; i < fds.Length; i++) fds[i] = _fds.Take(i);
        _fds.Clear();
        return (BinaryPrimitives.ReadInt64LittleEndian(buffer), fds);
    }

    /// <summary>Reads a message and asserts its value and whether a descriptor came with it.</summary>
    public SafeFd? Expect(long value, bool withFd)
    {
        var (v, fds) = Read();
        Assert.Equal(value, v);
        Assert.Equal(withFd ? 1 : 0, fds.Length);
        return withFd ? fds[0] : null;
    }

    /// <summary>True when nothing is pending within <paramref name="ms"/>.</summary>
    public bool IsQuiet(int ms = 200) => !Socket.WaitReadable(ms);

    /// <summary>True when the server closed this connection (end of stream after any pending messages are skipped).</summary>
    public bool WasClosed()
    {
        Span<byte> buffer = stackalloc byte[256];
        while (Socket.WaitReadable((int)Wait.Timeout.TotalMilliseconds))
        {
            int n;
            try { n = Socket.Receive(buffer, _fds); }
            catch (LinuxException) { return true; }
            _fds.Clear();
            if (n == 0) return true;
        }

        return false;
    }

    public void Dispose()
    {
        _fds.Dispose();
        Socket.Dispose();
    }
}
