using PciKit.Linux;
using PciKit.Linux.Memory;

namespace PciKit.Ivshmem;

/// <summary>
/// A host program's seat on an ivshmem server (QEMU's <c>ivshmem-server</c> or <see cref="IvshmemServer"/>): the same
/// protocol a QEMU <c>ivshmem-doorbell</c> device speaks. It learns its id, maps the shared memory, keeps the eventfds of
/// every other peer to <see cref="Ring"/> them, and exposes its own vectors to wait on.
/// </summary>
/// <remarks>
/// <para><see cref="Connect"/> reads the setup synchronously (version, id, shared memory, the other peers' eventfds, its own);
/// then one background thread reads the server's later messages (arrivals, departures) and raises
/// <see cref="PeerConnected"/> and <see cref="PeerDisconnected"/> on it. Everything the server sends is validated; a protocol
/// violation closes the connection and faults <see cref="Completion"/>.</para>
/// <para>Ownership: the peer owns the socket, the mapping (<see cref="SharedMemory"/>, which keeps the shared-memory
/// descriptor) and every eventfd; <see cref="Dispose"/> releases them all. <see cref="Ring"/> and the vectors' waits may be
/// used from any thread.</para>
/// </remarks>
public sealed partial class IvshmemPeer : IDisposable
{
    private readonly object _lock = new();
    private readonly UnixSocket _socket;
    private readonly MessageReader _reader;
    private readonly IvshmemPeerOptions _options;
    private readonly Dictionary<int, List<EventFd>> _remote = [];
    private readonly List<EventFd> _own = [];
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly LogLimiter _log;
    private volatile IvshmemVector[] _vectors = [];
    private MappedMemoryBlock? _memory;
    private int? _vectorLimit;
    private bool _setUp;
    private Thread? _thread;
    private bool _disposed;

    private IvshmemPeer(UnixSocket socket, IvshmemPeerOptions options)
    {
        _socket = socket;
        _reader = new MessageReader(socket);
        _options = options;
        _vectorLimit = options.Vectors;
        _log = new LogLimiter(options.Log, "ivshmem-peer");
    }

    /// <summary>This peer's id (0 … 65535), what a guest in its place would read from IVPosition.</summary>
    public int Id { get; private set; }

    /// <summary>This peer's own vectors (index = vector number).</summary>
    public IReadOnlyList<IvshmemVector> Vectors => _vectors;

    /// <summary>How many vectors this peer has (as QEMU's <c>vectors=</c>).</summary>
    public int VectorCount => _vectors.Length;

    /// <summary>
    /// The shared memory, mapped with <see cref="IvshmemPeerOptions.Access"/>: a bounds-checked <see cref="PciKit.Memory.MemoryBlock"/>
    /// that keeps the server's descriptor, so it is also <see cref="PciKit.Memory.IShareableMemory"/> (e.g. BAR2 of a device
    /// model, or a mapping handed to another process). Owned by this peer: do not dispose it; it is unmapped by <see cref="Dispose"/>.
    /// </summary>
    public MappedMemoryBlock SharedMemory => _memory ?? throw new ObjectDisposedException(nameof(IvshmemPeer));

    /// <summary>The shared memory's size in bytes (the server rounds it to a power of two).</summary>
    public ulong SharedMemorySize { get; private set; }

    /// <summary>The other peers this peer can ring, by id (a snapshot).</summary>
    public IReadOnlyList<IvshmemRemotePeer> Peers
    {
        get
        {
            lock (_lock)
            {
                var list = new List<IvshmemRemotePeer>(_remote.Count);
                foreach (var (id, fds) in _remote)
                {
                    list.Add(new IvshmemRemotePeer(id, fds.Count));
                }

                list.Sort((a, b) => a.Id.CompareTo(b.Id));
                return list;
            }
        }
    }

    /// <summary>Whether the connection to the server is still open.</summary>
    public bool IsConnected => !_completion.Task.IsCompleted && !_disposed;

    /// <summary>
    /// Completes when the server closes the connection (it stopped) or <see cref="Dispose"/> is called; faults with
    /// <see cref="IvshmemProtocolException"/> when the server broke the protocol. Known peers can still be rung afterwards.
    /// </summary>
    public Task Completion => _completion.Task;

    /// <summary>Another peer connected and all its vectors are known (raised on the reader thread).</summary>
    public event EventHandler<IvshmemPeerEventArgs>? PeerConnected;

    /// <summary>Another peer left; its eventfds are closed (raised on the reader thread).</summary>
    public event EventHandler<IvshmemPeerEventArgs>? PeerDisconnected;

    /// <summary>Connects to the server at <paramref name="socketPath"/> and reads the whole setup.</summary>
    /// <param name="socketPath">The server's UNIX socket (QEMU's default is <c>/tmp/ivshmem_socket</c>).</param>
    /// <param name="options">Expected vectors, timeouts, mapping access.</param>
    /// <returns>The connected peer.</returns>
    /// <exception cref="IvshmemException">No server listens at the path.</exception>
    /// <exception cref="IvshmemProtocolException">The server sent an invalid setup or closed the connection during it.</exception>
    public static IvshmemPeer Connect(string socketPath, IvshmemPeerOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        options ??= new IvshmemPeerOptions();
        options.Validate();
        UnixSocket socket;
        try
        {
            socket = UnixSocket.Connect(socketPath);
        }
        catch (LinuxException e)
        {
            throw new IvshmemException(
                $"No ivshmem server listens at {socketPath} ({e.ErrorName}); start one, e.g. 'pcikit ivshmem-server -F -S {socketPath}'.", e);
        }

        var peer = new IvshmemPeer(socket, options);
        try
        {
            peer.ReadSetup();
            peer.StartReader();
            return peer;
        }
        catch
        {
            peer.Dispose();
            throw;
        }
    }

    /// <summary>Signals vector <paramref name="vector"/> of peer <paramref name="peerId"/> (writes 1 to its eventfd).</summary>
    /// <param name="peerId">A connected peer's id, or this peer's own id (to interrupt itself).</param>
    /// <param name="vector">0 … that peer's vector count − 1.</param>
    /// <exception cref="IvshmemDoorbellException">No such peer, or it has no such vector; the message lists what exists.</exception>
    /// <exception cref="ObjectDisposedException">This peer was disposed.</exception>
    public void Ring(int peerId, int vector)
    {
        RingStatus status = TryRingCore(peerId, vector);
        if (status != RingStatus.Rung)
        {
            throw new IvshmemDoorbellException(peerId, vector, DescribeFailure(peerId, vector, status));
        }
    }

    /// <summary>Like <see cref="Ring"/>, but returns <see langword="false"/> for an unknown peer or vector (as a QEMU device ignores such a Doorbell write).</summary>
    /// <param name="peerId">The peer.</param>
    /// <param name="vector">The vector.</param>
    /// <returns>Whether the eventfd was signalled.</returns>
    public bool TryRing(int peerId, int vector) => TryRingCore(peerId, vector) == RingStatus.Rung;

    /// <summary>
    /// Maps the shared memory again with a duplicate of its descriptor, owned by the caller (independent of this peer's
    /// lifetime): for a device model that must own its BAR memory.
    /// </summary>
    /// <param name="access">Protection of the new mapping.</param>
    /// <returns>The mapping; dispose it when done.</returns>
    public MappedMemoryBlock MapSharedMemory(MappingAccess access = MappingAccess.ReadWrite)
    {
        SafeFd duplicate = (SharedMemory.Fd ?? throw new ObjectDisposedException(nameof(IvshmemPeer))).Duplicate();
        try
        {
            return MappedMemoryBlock.Map(duplicate, 0, SharedMemorySize, access, keepFd: true);
        }
        catch
        {
            duplicate.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Leaves the server (it tells the other peers), stops the reader thread, fails pending waits with
    /// <see cref="ObjectDisposedException"/>, closes every eventfd and unmaps the shared memory. Idempotent.
    /// </summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        try
        {
            _socket.Shutdown();
        }
        catch (LinuxException)
        {
            // Not connected any more.
        }

        if (_thread is not null && Thread.CurrentThread != _thread)
        {
            _thread.Join();
        }

        _socket.Dispose();
        _reader.Dispose();
        lock (_lock)
        {
            foreach (IvshmemVector v in _vectors)
            {
                v.Close();
            }

            foreach (EventFd e in _own)
            {
                e.Dispose();
            }

            foreach (List<EventFd> fds in _remote.Values)
            {
                fds.ForEach(e => e.Dispose());
            }

            _remote.Clear();
            _memory?.Dispose();
        }

        _completion.TrySetResult();
    }

    private RingStatus TryRingCore(int peerId, int vector)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            List<EventFd>? fds;
            if (peerId == Id)
            {
                fds = _own;
            }
            else if (!_remote.TryGetValue(peerId, out fds))
            {
                return RingStatus.NoPeer;
            }

            if ((uint)vector >= (uint)fds.Count)
            {
                return RingStatus.NoVector;
            }

            fds[vector].Signal();
            return RingStatus.Rung;
        }
    }

    private string DescribeFailure(int peerId, int vector, RingStatus status)
    {
        var peers = Peers;
        string known = peers.Count == 0 ? "none" : string.Join(", ", peers.Select(p => p.Id));
        if (status == RingStatus.NoPeer)
        {
            return $"Peer {peerId} is not connected to the ivshmem server (this peer is {Id}; other peers: {known}).";
        }

        int count = peerId == Id ? VectorCount : peers.FirstOrDefault(p => p.Id == peerId).Vectors;
        return $"Peer {peerId} has {count} vector(s); vector {vector} does not exist (ring 0 … {count - 1}).";
    }

    private enum RingStatus
    {
        Rung,
        NoPeer,
        NoVector,
    }
}
