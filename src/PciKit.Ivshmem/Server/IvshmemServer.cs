using PciKit.Linux;
using PciKit.Linux.Memory;

namespace PciKit.Ivshmem;

/// <summary>
/// A drop-in for QEMU's <c>contrib/ivshmem-server</c>: owns the shared memory and every peer's eventfds, and tells each
/// peer (a QEMU <c>ivshmem-doorbell</c> device, or an <see cref="IvshmemPeer"/>) about the others over a UNIX socket.
/// </summary>
/// <remarks>
/// <para>One background thread serves everything with poll(2): it accepts peers, sends their setup, announces arrivals and
/// departures, and drops a peer that hangs up or sends any byte (the protocol has no peer-to-server messages). Sends never
/// block: what a peer's socket cannot take is queued for it, so a slow or stuck peer never stalls the others.</para>
/// <para><see cref="PeerConnected"/> and <see cref="PeerDisconnected"/> run on that thread after the state changed; handlers
/// must be quick and must not wait for the server.</para>
/// </remarks>
public sealed partial class IvshmemServer : IDisposable
{
    private readonly IvshmemServerOptions _options;
    private readonly SafeFd _memory;
    private readonly UnixSocket _listener;
    private readonly EventFd _wake;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly LogLimiter _log;
    private volatile int[] _peerIds = [];
    private volatile bool _stopping;

    private IvshmemServer(IvshmemServerOptions options, SafeFd memory, ulong size, UnixSocket listener)
    {
        _options = options;
        _memory = memory;
        SharedMemorySize = size;
        _listener = listener;
        _wake = new EventFd(0, EventFdOptions.NonBlocking);
        _log = new LogLimiter(options.Log, "ivshmem-server");
        _thread = new Thread(Run) { IsBackground = true, Name = "ivshmem-server" };
    }

    /// <summary>The options the server was started with.</summary>
    public IvshmemServerOptions Options => _options;

    /// <summary>The socket path peers connect to.</summary>
    public string SocketPath => _options.SocketPath;

    /// <summary>The size of the shared memory: the request rounded up to a power of two (and grown for hugetlbfs).</summary>
    public ulong SharedMemorySize { get; }

    /// <summary>Vectors (eventfds) per peer.</summary>
    public int Vectors => _options.Vectors;

    /// <summary>The ids of the connected peers, in connection order (a snapshot).</summary>
    public IReadOnlyList<int> PeerIds => _peerIds;

    /// <summary>Counts of accepted, departed and dropped peers.</summary>
    public IvshmemServerCounters Counters { get; } = new();

    /// <summary>Completes when the server thread has stopped and cleaned up; faults if the loop failed.</summary>
    public Task Completion => _completion.Task;

    /// <summary>A peer received its setup and was announced to the others (raised on the server thread).</summary>
    public event EventHandler<IvshmemServerPeerEventArgs>? PeerConnected;

    /// <summary>A peer left and its departure was announced to the others (raised on the server thread).</summary>
    public event EventHandler<IvshmemServerPeerEventArgs>? PeerDisconnected;

    /// <summary>
    /// Opens the shared memory, listens on the socket and starts serving. Everything that can fail fails here, with the
    /// reason; afterwards the server runs until <see cref="Dispose"/>.
    /// </summary>
    /// <param name="options">What to serve; null for QEMU's defaults.</param>
    /// <returns>The running server.</returns>
    /// <exception cref="SocketPathInUseException">The socket path exists (a running server, a stale file, or not a socket).</exception>
    /// <exception cref="IvshmemException">No power of two up to 1 GiB could be set as the memory's size.</exception>
    /// <exception cref="LinuxException">The memory could not be opened (permissions, missing directory …).</exception>
    public static IvshmemServer Start(IvshmemServerOptions? options = null)
    {
        options ??= new IvshmemServerOptions();
        options.Validate();

        // The socket first: a second server started by mistake fails here, before it could resize or unlink the memory
        // object of the one that runs.
        UnixSocket listener = UnixSocket.Listen(options.SocketPath, new UnixListenOptions
        {
            Mode = options.SocketMode,
            ReplaceStaleSocket = options.ReplaceStaleSocket,
            NonBlocking = true,
            Backlog = 10,
        });
        try
        {
            var (memory, size) = SharedMemorySetup.Open(options);
            var server = new IvshmemServer(options, memory, size, listener);
            options.Log.Write(PciKit.Device.PciLogLevel.Debug, "ivshmem-server", $"listening on {options.SocketPath}: {Describe(options)} of {IvshmemSize.Format(size)}, {options.Vectors} vector(s) per peer");
            server._thread.UnsafeStart();
            return server;
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Maps the shared memory read-write into this process (a new mapping with its own descriptor, owned by the caller),
    /// e.g. to prepare content before peers connect or to inspect what they wrote.
    /// </summary>
    /// <returns>The mapping; dispose it when done.</returns>
    public MappedMemoryBlock MapSharedMemory()
    {
        SafeFd duplicate = _memory.Duplicate();
        try
        {
            return MappedMemoryBlock.Map(duplicate, 0, SharedMemorySize, MappingAccess.ReadWrite, keepFd: true);
        }
        catch
        {
            duplicate.Dispose();
            throw;
        }
    }

    /// <summary>Same as <see cref="Dispose"/>.</summary>
    public void Stop() => Dispose();

    /// <summary>
    /// Stops serving: every peer is disconnected (the others are told, as QEMU's server does), the socket file is removed and,
    /// unless <see cref="IvshmemServerOptions.UnlinkSharedMemoryOnStop"/> is false, the shared memory object's name. Waits for
    /// the server thread unless called from a handler on it. Idempotent.
    /// </summary>
    public void Dispose()
    {
        if (!_stopping)
        {
            _stopping = true;
            try
            {
                _wake.Signal();
            }
            catch (ObjectDisposedException)
            {
                // The loop already finished and closed it.
            }
        }

        if (Thread.CurrentThread != _thread && _thread.IsAlive)
        {
            _thread.Join();
        }
    }

    private static string Describe(IvshmemServerOptions options) =>
        options.HugeTlbDirectory is { } dir ? $"unlinked file in {dir}" : $"POSIX shared memory '{options.SharedMemoryName}'";
}
