using System.Runtime.CompilerServices;
using PciKit.Device;
using PciKit.Linux;

namespace PciKit.VfioUser.Server;

/// <summary>Settings of a <see cref="VfioUserServer"/>.</summary>
public sealed record VfioUserServerOptions
{
    /// <summary>Mode of the socket file (default 0600: only the owner may connect).</summary>
    public UnixFileMode SocketMode { get; init; } = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Replace a stale socket file (one nobody listens on) instead of failing.</summary>
    public bool ReplaceStaleSocket { get; init; }

    /// <summary>Where protocol errors and connection events are logged (default: the device's log).</summary>
    public IPciLog? Log { get; init; }

    /// <summary>Most fds the server accepts in one message (advertised as <c>max_msg_fds</c>).</summary>
    public int MaxMessageFds { get; init; } = 16;

    /// <summary>Largest data transfer in one message (advertised as <c>max_data_xfer_size</c>).</summary>
    public uint MaxDataTransferSize { get; init; } = 1 << 20;

    /// <summary>Most DMA windows a client may map (advertised as <c>max_dma_maps</c>).</summary>
    public uint MaxDmaMaps { get; init; } = 65535;

    /// <summary>How long a device DMA by message waits for the client's answer before it fails.</summary>
    public TimeSpan DmaTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long the serving thread polls the socket for the next message before it sleeps in the kernel (like Linux's
    /// SO_BUSY_POLL). A request that arrives within this time is taken without a wake-up, which saves the cross-CPU
    /// wake-up a sleeping server costs (tens of µs on a virtual machine); the price is up to this much CPU time after each
    /// message, so a client that sends back to back keeps one CPU busy. <c>null</c> (the default) chooses
    /// <see cref="DefaultBusyPoll"/> when the process may run on more than one CPU and zero otherwise (polling on the
    /// client's only CPU would only delay the client). <see cref="TimeSpan.Zero"/> turns it off.
    /// </summary>
    public TimeSpan? BusyPoll { get; init; }

    /// <summary>The busy-poll time chosen when <see cref="BusyPoll"/> is null and more than one CPU is available: 50 µs.</summary>
    public static TimeSpan DefaultBusyPoll { get; } = TimeSpan.FromMicroseconds(50);

    /// <summary>The busy-poll time these options give on this machine (see <see cref="BusyPoll"/>).</summary>
    public TimeSpan EffectiveBusyPoll => BusyPoll ?? (Environment.ProcessorCount > 1 ? DefaultBusyPoll : TimeSpan.Zero);
}

/// <summary>
/// Serves one <see cref="PciDevice"/> to vfio-user clients (QEMU 10.1+ <c>vfio-user-pci</c>, libvfio-user's client,
/// PciKit's own client) on a UNIX socket: one client at a time; when it leaves, its DMA windows, fds and eventfds are
/// released, the device keeps its state, and the next client is accepted.
/// </summary>
/// <remarks>
/// Each connection is served on one thread that reads a message, runs it against the device, and replies — no
/// hand-off. Device DMA into windows the client mapped with an fd is a memory copy; into windows without an fd it
/// becomes DMA_READ/DMA_WRITE messages to the client. Malformed or refused messages get an error reply (bare header,
/// ERROR flag, errno); the server keeps serving.
/// </remarks>
public sealed class VfioUserServer : IDisposable
{
    private readonly UnixSocket _listener;
    private readonly Thread _thread;
    private readonly VfioUserServerOptions _options;
    private volatile ServerConnection? _current;
    private volatile bool _stopping;
    private int _clientsServed;

    private VfioUserServer(PciDevice device, UnixSocket listener, string path, VfioUserServerOptions options)
    {
        Device = device;
        SocketPath = path;
        _listener = listener;
        _options = options;
        Log = options.Log ?? device.Log;
        _thread = new Thread(AcceptLoop) { IsBackground = true, Name = $"vfio-user {device.Name}" };
    }

    /// <summary>
    /// Listens on <paramref name="socketPath"/> and starts serving <paramref name="device"/> (realized). Throws
    /// <see cref="SocketPathInUseException"/> when the path is taken (a running server, a stale socket file without
    /// <see cref="VfioUserServerOptions.ReplaceStaleSocket"/>, or a file that is not a socket).
    /// </summary>
    public static VfioUserServer Start(PciDevice device, string socketPath, VfioUserServerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        if (!device.IsRealized) throw new PciDefinitionException($"{device.Name} is not realized; call Realize() before serving it.");
        options ??= new VfioUserServerOptions();
        if (options.MaxMessageFds is < 1 or > 253) throw new ArgumentOutOfRangeException(nameof(options), "MaxMessageFds must be 1–253.");
        if (options.MaxDataTransferSize is < 4096 or > 64 << 20) throw new ArgumentOutOfRangeException(nameof(options), "MaxDataTransferSize must be 4 KiB – 64 MiB.");
        if (options.BusyPoll is { } poll && (poll < TimeSpan.Zero || poll > TimeSpan.FromSeconds(1))) throw new ArgumentOutOfRangeException(nameof(options), "BusyPoll must be between zero (off) and one second.");
        var listener = UnixSocket.Listen(socketPath, new UnixListenOptions { Mode = options.SocketMode, ReplaceStaleSocket = options.ReplaceStaleSocket });
        var server = new VfioUserServer(device, listener, socketPath, options);
        server._thread.Start();
        return server;
    }

    /// <summary>The device served.</summary>
    public PciDevice Device { get; }

    /// <summary>The socket path.</summary>
    public string SocketPath { get; }

    /// <summary>Where the server logs.</summary>
    public IPciLog Log { get; }

    /// <summary>Clients that have connected and left.</summary>
    public int ClientsServed => Volatile.Read(ref _clientsServed);

    /// <summary>True while a client is connected.</summary>
    public bool HasClient => _current is not null;

    /// <summary>Counters of the current (or last) connection.</summary>
    public VfioUserServerCounters Counters { get; } = new();

    private void AcceptLoop()
    {
        while (!_stopping)
        {
            UnixSocket client;
            try
            {
                client = _listener.Accept();
            }
            catch (Exception e) when (e is LinuxException or ObjectDisposedException)
            {
                if (!_stopping) Log.Write(PciLogLevel.Error, "vfio-user", $"accept on {SocketPath} failed: {e.Message}");
                return;
            }
            var connection = new ServerConnection(this, client, _options);
            _current = connection;
            if (_stopping) connection.Shutdown(); // Dispose ran between Accept and here and did not see this connection
            try
            {
                Log.Write(PciLogLevel.Information, "vfio-user", $"client connected to {SocketPath}");
                connection.Run();
            }
            catch (Exception e)
            {
                Log.Write(PciLogLevel.Error, "vfio-user", $"connection failed: {e.GetType().Name}: {e.Message}");
            }
            finally
            {
                connection.Dispose();
                _current = null;
                Interlocked.Increment(ref _clientsServed);
                Log.Write(PciLogLevel.Information, "vfio-user", $"client left {SocketPath}");
            }
        }
    }

    /// <summary>Stops serving: disconnects the client, closes and removes the socket.</summary>
    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _current?.Shutdown();
        _listener.Dispose();
        if (_thread.IsAlive && Thread.CurrentThread != _thread) _thread.Join(TimeSpan.FromSeconds(10));
    }
}

/// <summary>What a server saw (all connections).</summary>
public sealed class VfioUserServerCounters
{
    internal long Messages;
    internal long ErrorReplies;
    internal long DmaMessages;
    internal readonly StrongBox<long> BusyPollHits = new();
    internal readonly StrongBox<long> BlockingReads = new();

    /// <summary>Commands received.</summary>
    public long MessageCount => Volatile.Read(ref Messages);
    /// <summary>Error replies sent (and errors on posted messages).</summary>
    public long ErrorReplyCount => Volatile.Read(ref ErrorReplies);
    /// <summary>DMA_READ/DMA_WRITE messages sent to clients.</summary>
    public long DmaMessageCount => Volatile.Read(ref DmaMessages);
    /// <summary>Reads that found a message while busy-polling (<see cref="VfioUserServerOptions.BusyPoll"/>): each saved a wake-up.</summary>
    public long BusyPollHitCount => Volatile.Read(ref BusyPollHits.Value);
    /// <summary>
    /// Socket reads that went into a blocking receive: with the busy-poll on, each found nothing while polling and cost a
    /// sleep and a wake-up; with it off, every read is one (it sleeps unless the message is already there).
    /// </summary>
    public long BlockingReadCount => Volatile.Read(ref BlockingReads.Value);
}
