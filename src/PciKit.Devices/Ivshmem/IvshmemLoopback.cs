using PciKit.Memory;

namespace PciKit.Devices.Ivshmem;

/// <summary>
/// Peers of ivshmem devices inside one process, for tests and standalone models: an in-memory stand-in for an
/// ivshmem server. Peers get ids from 0 in order of joining (the first free one, like ivshmem-server) and may share one
/// memory block. A ring is delivered like an eventfd: asynchronously on the thread pool (never under the ringing
/// device's lock), and rings of one vector that arrive before the delivery runs coalesce into one notification.
/// </summary>
public sealed class IvshmemLoopback
{
    /// <summary>Highest peer id (the Doorbell register carries 16 bits).</summary>
    public const int MaxPeerId = 0xFFFF;

    private readonly Lock _lock = new();
    private IvshmemLoopbackLink?[] _peers = [];

    /// <summary>Creates a hub whose peers have <paramref name="vectors"/> vectors each and share <paramref name="sharedMemory"/> (optional; the caller owns it).</summary>
    public IvshmemLoopback(int vectors = 1, MemoryBlock? sharedMemory = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vectors, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(vectors, 2048);
        Vectors = vectors;
        SharedMemory = sharedMemory;
    }

    /// <summary>Vectors per peer.</summary>
    public int Vectors { get; }

    /// <summary>The memory the hub's devices share, if it was given one.</summary>
    public MemoryBlock? SharedMemory { get; }

    /// <summary>Connected peers.</summary>
    public int PeerCount => Volatile.Read(ref _peers).Count(p => p is not null);

    /// <summary>Joins a new peer with the first free id; set its <see cref="IvshmemLoopbackLink.Receiver"/> to receive interrupts.</summary>
    public IvshmemLoopbackLink Join()
    {
        using var _ = _lock.EnterScope();
        var peers = _peers;
        int id = Array.IndexOf(peers, null);
        if (id < 0) id = peers.Length;
        if (id > MaxPeerId) throw new InvalidOperationException($"All {MaxPeerId + 1} peer ids are taken.");
        var link = new IvshmemLoopbackLink(this, id, Vectors);
        var next = id < peers.Length ? (IvshmemLoopbackLink?[])peers.Clone() : new IvshmemLoopbackLink?[id + 1];
        if (id >= peers.Length) Array.Copy(peers, next, peers.Length);
        next[id] = link;
        Volatile.Write(ref _peers, next);
        return link;
    }

    /// <summary>
    /// Joins a new peer and builds an ivshmem device on it (doorbell variant unless <paramref name="options"/> says
    /// Intx), wired both ways: the device rings through the link and the link notifies the device. The device's BAR2
    /// is the hub's shared memory when it has one.
    /// </summary>
    public IvshmemDevice JoinDevice(IvshmemOptions? options = null)
    {
        options ??= new IvshmemOptions { Variant = IvshmemVariant.Doorbell };
        if (options.Variant == IvshmemVariant.Plain) throw new ArgumentException("A plain ivshmem device has no interrupts to link; use IvshmemVariant.Doorbell or Intx.", nameof(options));
        var link = Join();
        try
        {
            var device = new IvshmemDevice(options with { Link = link, SharedMemory = options.SharedMemory ?? SharedMemory });
            link.Receiver = device.Notify;
            return device;
        }
        catch
        {
            link.Dispose();
            throw;
        }
    }

    internal bool Ring(int peer, int vector)
    {
        var peers = Volatile.Read(ref _peers);
        if ((uint)peer >= (uint)peers.Length || peers[peer] is not { } target) return false;
        return target.Signal(vector);
    }

    internal void Leave(IvshmemLoopbackLink link)
    {
        using var _ = _lock.EnterScope();
        var next = (IvshmemLoopbackLink?[])_peers.Clone();
        if ((uint)link.OwnId < (uint)next.Length && ReferenceEquals(next[link.OwnId], link)) next[link.OwnId] = null;
        Volatile.Write(ref _peers, next);
    }
}

/// <summary>One peer of an <see cref="IvshmemLoopback"/>: the <see cref="IIvshmemLink"/> a device rings through.</summary>
public sealed class IvshmemLoopbackLink : IIvshmemLink, IDisposable
{
    private readonly IvshmemLoopback _hub;
    private readonly Delivery[] _deliveries;
    private int _disposed;

    internal IvshmemLoopbackLink(IvshmemLoopback hub, int id, int vectors)
    {
        _hub = hub;
        OwnId = id;
        Vectors = vectors;
        _deliveries = new Delivery[vectors];
        for (int v = 0; v < vectors; v++) _deliveries[v] = new Delivery(this, v);
    }

    /// <inheritdoc />
    public int OwnId { get; }

    /// <inheritdoc />
    public int Vectors { get; }

    /// <summary>Called (on a thread-pool thread) with the vector when a peer rings this one; usually a device's <see cref="IvshmemDevice.Notify"/>.</summary>
    public Action<int>? Receiver { get; set; }

    /// <summary>Rings received (after coalescing: deliveries queued).</summary>
    public long Delivered => _deliveries.Sum(d => Volatile.Read(ref d.Count));

    /// <inheritdoc />
    public bool Ring(int peer, int vector) => Volatile.Read(ref _disposed) == 0 && _hub.Ring(peer, vector);

    internal bool Signal(int vector)
    {
        if ((uint)vector >= (uint)Vectors || Volatile.Read(ref _disposed) != 0) return false;
        var d = _deliveries[vector];
        if (Interlocked.Exchange(ref d.Pending, 1) == 0) ThreadPool.UnsafeQueueUserWorkItem(d, preferLocal: false);
        return true;
    }

    /// <summary>Leaves the hub: later rings to this id fail, and its own rings are refused.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _hub.Leave(this);
    }

    /// <summary>One vector's pending flag and its pre-allocated work item (a ring allocates nothing).</summary>
    private sealed class Delivery(IvshmemLoopbackLink link, int vector) : IThreadPoolWorkItem
    {
        public int Pending;
        public long Count;

        public void Execute()
        {
            Volatile.Write(ref Pending, 0);
            if (Volatile.Read(ref link._disposed) != 0) return;
            Interlocked.Increment(ref Count);
            link.Receiver?.Invoke(vector);
        }
    }
}
