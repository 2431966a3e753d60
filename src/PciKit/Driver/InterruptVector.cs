using PciKit.Device;

namespace PciKit.Driver;

/// <summary>
/// One interrupt vector of a session (PCIDriverKit's IOInterruptDispatchSource): await it, poll it, or subscribe to it.
/// Counts work like an eventfd: <see cref="WaitAsync"/> and <see cref="Take"/> return how many times the vector fired
/// since the last call and reset that count; <see cref="TotalCount"/> only grows.
/// </summary>
public sealed class InterruptVector
{
    private readonly Lock _gate = new();
    private long _pending;
    private long _total;
    private TaskCompletionSource<bool>? _waiter;
    private Action<InterruptVector, long>[] _handlers = [];

    internal InterruptVector(PciInterruptKind kind, int index)
    {
        Kind = kind;
        Index = index;
    }

    /// <summary>INTx, MSI or MSI-X.</summary>
    public PciInterruptKind Kind { get; }

    /// <summary>Vector index within <see cref="Kind"/>.</summary>
    public int Index { get; }

    /// <summary>Times the vector fired since it was configured.</summary>
    public long TotalCount => Volatile.Read(ref _total);

    /// <summary>Returns and resets the count of firings not yet taken (0 if none).</summary>
    public long Take()
    {
        using var _ = _gate.EnterScope();
        long p = _pending;
        _pending = 0;
        return p;
    }

    /// <summary>Waits until the vector has fired at least once since the last take; returns and resets that count.</summary>
    public async ValueTask<long> WaitAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task task;
            using (_gate.EnterScope())
            {
                if (_pending > 0)
                {
                    long p = _pending;
                    _pending = 0;
                    return p;
                }
                _waiter ??= new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                task = _waiter.Task;
            }
            await task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Waits up to <paramref name="timeout"/>; returns the count taken, or 0 on timeout.</summary>
    public long Wait(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return WaitAsync(cts.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            return 0;
        }
    }

    /// <summary>
    /// Calls <paramref name="handler"/> with the vector and its total count each time it fires. The handler runs on the
    /// thread that delivered the interrupt (possibly under the device's lock): keep it short and do not block.
    /// Dispose the result to unsubscribe.
    /// </summary>
    public IDisposable Subscribe(Action<InterruptVector, long> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        using (_gate.EnterScope()) _handlers = [.. _handlers, handler];
        return new Subscription(this, handler);
    }

    internal void Signal()
    {
        TaskCompletionSource<bool>? waiter;
        Action<InterruptVector, long>[] handlers;
        long total;
        using (_gate.EnterScope())
        {
            _pending++;
            total = ++_total;
            waiter = _waiter;
            _waiter = null;
            handlers = _handlers;
        }
        waiter?.TrySetResult(true);
        foreach (var h in handlers) h(this, total);
    }

    private sealed class Subscription(InterruptVector vector, Action<InterruptVector, long> handler) : IDisposable
    {
        public void Dispose()
        {
            using var _ = vector._gate.EnterScope();
            vector._handlers = vector._handlers.Where(h => h != handler).ToArray();
        }
    }
}

/// <summary>The vectors configured by one <see cref="PciFunction.ConfigureInterrupts"/> call.</summary>
public sealed class PciInterruptSet : IInterruptReceiver
{
    private readonly InterruptVector[] _vectors;

    internal PciInterruptSet(PciInterruptKind kind, int count)
    {
        Kind = kind;
        _vectors = new InterruptVector[count];
        for (int i = 0; i < count; i++) _vectors[i] = new InterruptVector(kind, i);
    }

    /// <summary>INTx, MSI or MSI-X.</summary>
    public PciInterruptKind Kind { get; }

    /// <summary>Number of vectors.</summary>
    public int Count => _vectors.Length;

    /// <summary>Vector <paramref name="index"/>.</summary>
    public InterruptVector this[int index] => _vectors[index];

    /// <summary>All vectors.</summary>
    public IReadOnlyList<InterruptVector> Vectors => _vectors;

    void IInterruptReceiver.Signal(int vector)
    {
        if ((uint)vector < (uint)_vectors.Length) _vectors[vector].Signal();
    }
}
