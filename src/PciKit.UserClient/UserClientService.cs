using PciKit.Driver;
using PciKit.Linux;

namespace PciKit.UserClient;

/// <summary>
/// Hands a driver's memory to other processes — PCIDriverKit's user client with <c>CopyClientMemoryForType</c>, over
/// a UNIX socket. The driver offers memory types (<see cref="AddMemory(int, PciMemoryMapping, bool)"/>: usually a BAR
/// mapping); an app connects (<see cref="UserClientConnection"/>), asks for a type, and receives the file descriptor
/// (SCM_RIGHTS) with the memory's offset and length, which it maps. A read-only request, or any request for a type
/// offered read-only, gets a descriptor opened O_RDONLY, so the app cannot map it writable.
/// </summary>
/// <remarks>
/// <para>Only shareable memory can be handed out: memory with a file behind it (a BAR from <c>SharedMemoryAllocator</c>,
/// a vfio-user region the server let the client mmap, an ivshmem server's shm). Process memory (a heap-backed BAR) is
/// refused when it is offered, with an exception that says so.</para>
/// <para>Threads: one accept thread, and one thread per connected client that reads a request, answers it, and reads
/// the next (at most <see cref="UserClientServiceOptions.MaxClients"/>). A malformed request gets an error reply;
/// descriptors a client sends are closed on arrival; a client that hangs up ends only its own thread.</para>
/// <para>Ownership: the service holds its own duplicates of every offered file (and their read-only reopens) until
/// <see cref="RemoveMemory"/> or <see cref="Dispose"/>. Apps' mappings stay valid after that, as mappings of a file do.</para>
/// </remarks>
public sealed partial class UserClientService : IDisposable
{
    private readonly UnixSocket _listener;
    private readonly Thread _acceptThread;
    private readonly UserClientServiceOptions _options;
    private readonly LogLimiter _log;
    private readonly Lock _lock = new();
    private readonly Dictionary<int, OfferedMemory> _memory = [];
    private readonly List<Connection> _connections = [];
    private volatile bool _stopping;
    private long _granted, _refused, _clientsServed;

    private UserClientService(UnixSocket listener, string path, UserClientServiceOptions options)
    {
        _listener = listener;
        SocketPath = path;
        _options = options;
        _log = new LogLimiter(options.Log, "user-client " + path);
        _acceptThread = new Thread(AcceptLoop) { IsBackground = true, Name = "user-client accept" };
    }

    /// <summary>
    /// Listens on <paramref name="socketPath"/> (mode 0600 unless told) and starts serving. Throws
    /// <see cref="SocketPathInUseException"/> when the path is taken.
    /// </summary>
    public static UserClientService Start(string socketPath, UserClientServiceOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        options ??= new UserClientServiceOptions();
        if (options.MaxClients is < 1 or > 1024) throw new ArgumentOutOfRangeException(nameof(options), options.MaxClients, "MaxClients must be 1–1024.");
        var listener = UnixSocket.Listen(socketPath, new UnixListenOptions { Mode = options.SocketMode, ReplaceStaleSocket = options.ReplaceStaleSocket });
        var service = new UserClientService(listener, socketPath, options);
        service._acceptThread.Start();
        return service;
    }

    /// <summary>The socket path apps connect to.</summary>
    public string SocketPath { get; }

    /// <summary>Clients connected now.</summary>
    public int ClientCount { get { using (_lock.EnterScope()) return _connections.Count; } }

    /// <summary>Clients accepted since the start (including refused ones).</summary>
    public long ClientsServed => Interlocked.Read(ref _clientsServed);

    /// <summary>Requests answered with a descriptor.</summary>
    public long Granted => Interlocked.Read(ref _granted);

    /// <summary>Requests answered with an error.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>
    /// Offers <paramref name="mapping"/> (a BAR mapped by the driver) as memory type <paramref name="type"/>. With
    /// <paramref name="readOnly"/>, apps may only map it read-only. Throws <see cref="ArgumentException"/> when the
    /// memory has no file behind it (process memory cannot be shared: give the device shareable memory, e.g.
    /// <c>SharedMemoryAllocator</c>, or open it over vfio-user from a server that lets BARs be mapped).
    /// </summary>
    public void AddMemory(int type, PciMemoryMapping mapping, bool readOnly = false)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        if (!mapping.TryGetFile(out var file, out ulong fileOffset))
            throw new ArgumentException($"BAR {mapping.BarIndex}'s memory is process memory with no file descriptor, so no other process can map it; create the device with shareable memory (SharedMemoryAllocator) or map a BAR a vfio-user server lets clients mmap.", nameof(mapping));
        if (file is not SafeFd fd)
            throw new ArgumentException($"BAR {mapping.BarIndex}'s memory is backed by a {file.GetType().Name}, not a Linux file descriptor (SafeFd).", nameof(mapping));
        AddMemory(type, fd, fileOffset, mapping.Length, readOnly);
    }

    /// <summary>
    /// Offers [<paramref name="fileOffset"/>, +<paramref name="length"/>) of <paramref name="file"/> (memfd, shm, a
    /// hugetlbfs file) as memory type <paramref name="type"/>. The service keeps its own duplicate; the caller keeps
    /// <paramref name="file"/>. A type already offered is replaced.
    /// </summary>
    public void AddMemory(int type, SafeFd file, ulong fileOffset, ulong length, bool readOnly = false)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfNegative(type);
        ObjectDisposedException.ThrowIf(_stopping, this);
        ulong size = file.GetSize();
        if (length == 0 || fileOffset > size || length > size - fileOffset)
            throw new ArgumentOutOfRangeException(nameof(length), $"[0x{fileOffset:x}, +0x{length:x}) is not a non-empty range inside the 0x{size:x}-byte file.");
        bool writable = !readOnly && file.IsWritable;
        if (!readOnly && !writable) throw new ArgumentException("The file is open read-only; offer it with readOnly: true.", nameof(file));
        SafeFd? rw = null, ro = null;
        try
        {
            rw = writable ? file.Duplicate() : null;
            ro = file.ReopenReadOnly();
            var offered = new OfferedMemory(type, rw, ro, fileOffset, length, readOnly);
            OfferedMemory? previous;
            using (_lock.EnterScope())
            {
                _memory.Remove(type, out previous);
                _memory[type] = offered;
            }
            previous?.Dispose();
        }
        catch
        {
            rw?.Dispose();
            ro?.Dispose();
            throw;
        }
    }

    /// <summary>Withdraws memory type <paramref name="type"/>; later requests for it are refused. Mappings apps already hold stay valid.</summary>
    public bool RemoveMemory(int type)
    {
        OfferedMemory? removed;
        using (_lock.EnterScope()) _memory.Remove(type, out removed);
        removed?.Dispose();
        return removed is not null;
    }

    /// <summary>Stops accepting, disconnects every client, waits for their threads, closes the service's descriptors and removes the socket file.</summary>
    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _listener.Dispose(); // wakes Accept
        Connection[] connections;
        using (_lock.EnterScope()) connections = [.. _connections];
        foreach (var c in connections) c.Abort();
        if (Thread.CurrentThread != _acceptThread) _acceptThread.Join();
        foreach (var c in connections) c.Join();
        using (_lock.EnterScope())
        {
            foreach (var m in _memory.Values) m.Dispose();
            _memory.Clear();
        }
    }

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
                if (_stopping) return;
                _log.Warn($"accept failed: {e.Message}");
                Thread.Sleep(10);
                continue;
            }
            Interlocked.Increment(ref _clientsServed);
            var connection = new Connection(this, client);
            bool accepted;
            using (_lock.EnterScope())
            {
                accepted = !_stopping && _connections.Count < _options.MaxClients;
                if (accepted)
                {
                    _connections.Add(connection);
                    connection.Start(); // under the lock, so Dispose's snapshot never holds an unstarted connection
                }
            }
            if (!accepted) connection.RefuseBusy();
        }
    }

    private OfferedMemory? Find(int type)
    {
        using (_lock.EnterScope()) return _memory.GetValueOrDefault(type);
    }

    private void Ended(Connection connection)
    {
        using (_lock.EnterScope()) _connections.Remove(connection);
    }
}
