namespace PciKit.Linux;

/// <summary>Outcome of descriptor passing on a <see cref="UnixSocket.Receive"/>.</summary>
public enum FdTransferStatus
{
    /// <summary>All descriptors that arrived are held.</summary>
    Ok,

    /// <summary>More descriptors arrived than the container's free capacity; all of that message's descriptors were closed.</summary>
    TooManyFds,

    /// <summary>The kernel truncated the control data (MSG_CTRUNC); all descriptors of that message were closed.</summary>
    ControlTruncated,
}

/// <summary>
/// A reusable, fixed-capacity container for descriptors received with SCM_RIGHTS. It owns them until
/// <see cref="Take"/> transfers one; <see cref="Clear"/> and <see cref="Dispose"/> close the rest.
/// Receives append, so the descriptors that arrive with the first read of a message survive later reads
/// of the same message; call <see cref="Clear"/> between messages.
/// </summary>
/// <remarks>Not thread-safe. Reusing one instance keeps the receive path allocation-free apart from the <see cref="SafeFd"/> objects.</remarks>
public sealed class ReceivedFds : IDisposable
{
    private readonly SafeFd?[] _fds;

    /// <summary>Creates a container accepting up to <paramref name="capacity"/> descriptors.</summary>
    /// <param name="capacity">0 … 253 (SCM_MAX_FD). 0 rejects every descriptor.</param>
    public ReceivedFds(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, Interop.Cmsg.MaxFds);
        _fds = new SafeFd?[capacity];
    }

    /// <summary>The most descriptors this container holds.</summary>
    public int Capacity => _fds.Length;

    /// <summary>Descriptors received since the last <see cref="Clear"/> (including taken ones).</summary>
    public int Count { get; private set; }

    /// <summary>Whether a receive since the last <see cref="Clear"/> had to reject descriptors.</summary>
    public FdTransferStatus Status { get; private set; }

    /// <summary>How many descriptors were closed because of <see cref="Status"/>.</summary>
    public int DiscardedCount { get; private set; }

    /// <summary>Borrows the descriptor at <paramref name="index"/>; it stays owned by this container.</summary>
    /// <param name="index">0 … <see cref="Count"/> − 1.</param>
    public SafeFd this[int index] => Slot(index) ?? throw new InvalidOperationException($"Descriptor {index} was already taken.");

    /// <summary>Transfers ownership of the descriptor at <paramref name="index"/> to the caller.</summary>
    /// <param name="index">0 … <see cref="Count"/> − 1.</param>
    /// <returns>The descriptor, now owned by the caller.</returns>
    public SafeFd Take(int index)
    {
        SafeFd fd = this[index];
        _fds[index] = null;
        return fd;
    }

    /// <summary>Closes every descriptor not taken and resets <see cref="Count"/> and <see cref="Status"/>.</summary>
    public void Clear()
    {
        CloseFrom(0);
        Status = FdTransferStatus.Ok;
        DiscardedCount = 0;
    }

    /// <summary>Same as <see cref="Clear"/>.</summary>
    public void Dispose() => Clear();

    internal int FreeCapacity => _fds.Length - Count;

    internal void Add(SafeFd fd) => _fds[Count++] = fd;

    /// <summary>Closes the descriptors from <paramref name="start"/> on (one receive's worth) and records why.</summary>
    internal void Reject(int start, int alreadyClosed, FdTransferStatus status)
    {
        DiscardedCount += (Count - start) + alreadyClosed;
        CloseFrom(start);
        Status = status;
    }

    private void CloseFrom(int start)
    {
        for (int i = start; i < Count; i++)
        {
            _fds[i]?.Dispose();
            _fds[i] = null;
        }

        Count = start;
    }

    private SafeFd? Slot(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        return _fds[index];
    }
}
