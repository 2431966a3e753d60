using System.Diagnostics;
using PciKit.Device;
using PciKit.Linux;

namespace PciKit.Ivshmem;

/// <summary>
/// One of this peer's own interrupt vectors: the eventfd other peers (and guests, through their Doorbell register) signal
/// to interrupt this peer on vector <see cref="Index"/>. Owned by its <see cref="IvshmemPeer"/>.
/// </summary>
/// <remarks>
/// <para>Signals are counted like an eventfd counts them: <see cref="Wait(TimeSpan)"/> and <see cref="WaitAsync"/> return how
/// many rings arrived since the previous wait returned (at least 1), and complete at once when some are already pending.</para>
/// <para><see cref="Signaled"/> handlers run on a thread-pool thread, once per wake-up with the count read; while a handler
/// is subscribed or an asynchronous wait is pending, one reader (on the shared epoll thread) consumes the eventfd and feeds
/// both. Without either, <see cref="Wait(TimeSpan)"/> reads the eventfd directly on the calling thread (no hand-off: the
/// lowest latency); a handler or asynchronous wait added meanwhile starts reading only after that wait returns, so subscribe
/// first if both are used.</para>
/// </remarks>
public sealed class IvshmemVector
{
    private readonly object _gate = new();
    private readonly Queue<TaskCompletionSource<ulong>> _waiters = new();
    private readonly IPciLog _log;
    private Action<IvshmemVector, ulong>? _handlers;
    private readonly SemaphoreSlim _syncWaiters = new(1, 1);
    private CancellationTokenSource? _pump;
    private bool _pumpDeferred;
    private bool _readingDirectly;
    private bool _closed;
    private ulong _pending;
    private long _total;
    private long _wakeups;

    internal IvshmemVector(int index, EventFd eventFd, IPciLog log)
    {
        Index = index;
        EventFd = eventFd;
        _log = log;
    }

    /// <summary>The vector number (0 … vectors − 1): a guest sees it as MSI-X vector <see cref="Index"/>.</summary>
    public int Index { get; }

    /// <summary>
    /// The eventfd itself, owned by the peer (do not dispose it), e.g. to hand it to a device model or another process as an
    /// irqfd. Reading it directly bypasses <see cref="TotalSignals"/> and the handlers.
    /// </summary>
    public EventFd EventFd { get; }

    /// <summary>The sum of all counts read from this vector (each ring adds 1, so this is the number of rings received).</summary>
    public long TotalSignals => Interlocked.Read(ref _total);

    /// <summary>How many times a read found the vector signalled (rings that arrive close together are read as one wake-up).</summary>
    public long WakeUps => Interlocked.Read(ref _wakeups);

    /// <summary>
    /// Raised with the count read each time the vector is signalled (on a thread-pool thread). The first handler starts the
    /// vector's reader; removing the last one (with no asynchronous wait pending) stops it.
    /// </summary>
    public event Action<IvshmemVector, ulong>? Signaled
    {
        add
        {
            lock (_gate)
            {
                _handlers += value;
                EnsurePump();
            }
        }

        remove
        {
            lock (_gate)
            {
                _handlers -= value;
                StopPumpIfIdle();
            }
        }
    }

    /// <summary>Waits for the next signal (or takes pending ones) without blocking a thread.</summary>
    /// <param name="cancellationToken">Cancels the wait; a cancelled wait takes nothing.</param>
    /// <returns>The number of rings since the previous wait returned (≥ 1).</returns>
    /// <exception cref="ObjectDisposedException">The peer was disposed.</exception>
    public ValueTask<ulong> WaitAsync(CancellationToken cancellationToken = default)
    {
        TaskCompletionSource<ulong> waiter;
        lock (_gate)
        {
            if (_pending > 0)
            {
                ulong ready = _pending;
                _pending = 0;
                return new ValueTask<ulong>(ready);
            }

            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled<ulong>(cancellationToken);
            }

            ObjectDisposedException.ThrowIf(_closed, typeof(IvshmemPeer));
            waiter = new TaskCompletionSource<ulong>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Enqueue(waiter);
            EnsurePump();
        }

        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.UnsafeRegister(_ => Cancel(waiter, cancellationToken), null);
            _ = waiter.Task.ContinueWith(static (_, r) => ((CancellationTokenRegistration)r!).Dispose(), registration, CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return new ValueTask<ulong>(waiter.Task);
    }

    /// <summary>Blocks until the vector is signalled (or takes pending signals).</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> to wait forever.</param>
    /// <returns>The number of rings since the previous wait returned; 0 on timeout.</returns>
    /// <exception cref="ObjectDisposedException">The peer was disposed (also wakes a thread blocked here).</exception>
    /// <remarks>Synchronous waits on one vector take turns; each returns what arrived since the previous one.</remarks>
    public ulong Wait(TimeSpan timeout)
    {
        long start = Stopwatch.GetTimestamp();
        if (!_syncWaiters.Wait(Left(start, timeout)))
        {
            return 0;
        }

        try
        {
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_closed, typeof(IvshmemPeer));
                if (_pending > 0 || _pump is not null)
                {
                    return WaitForPump(start, timeout);
                }

                _readingDirectly = true;
            }

            ulong value = 0;
            try
            {
                value = ReadDirectly(start, timeout);
            }
            finally
            {
                lock (_gate)
                {
                    _readingDirectly = false;
                    if (_pumpDeferred)
                    {
                        _pumpDeferred = false;
                        EnsurePump();
                    }
                }
            }

            ObjectDisposedException.ThrowIf(Volatile.Read(ref _closed), typeof(IvshmemPeer));
            if (value > 0)
            {
                Interlocked.Add(ref _total, (long)value);
                Interlocked.Increment(ref _wakeups);
            }

            return value;
        }
        finally
        {
            _syncWaiters.Release();
        }
    }

    /// <summary>Blocks until the vector is signalled; returns the number of rings since the previous wait returned.</summary>
    /// <returns>The count (≥ 1).</returns>
    public ulong Wait() => Wait(Timeout.InfiniteTimeSpan);

    /// <summary>
    /// Fails pending asynchronous waits and wakes a thread blocked in <see cref="Wait(TimeSpan)"/> (the peer is being
    /// disposed; it closes the eventfd afterwards).
    /// </summary>
    internal void Close()
    {
        bool wake;
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            wake = _readingDirectly;
            _pump?.Cancel();
            _pump = null;
            _handlers = null;
            while (_waiters.TryDequeue(out var waiter))
            {
                waiter.TrySetException(new ObjectDisposedException(nameof(IvshmemPeer), "The ivshmem peer was disposed."));
            }

            Monitor.PulseAll(_gate);
        }

        if (wake)
        {
            EventFd.Signal(); // a blocking read(2) is not woken by close(2); this ring is never reported
        }
    }

    /// <summary>
    /// Only reader of the eventfd (the pump is deferred meanwhile): an infinite wait is one read(2), which blocks in the
    /// kernel while the descriptor is blocking (the fastest wake-up) and falls back to poll(2) once a QEMU peer has made the
    /// shared open file description O_NONBLOCK; a bounded wait polls first.
    /// </summary>
    private ulong ReadDirectly(long start, TimeSpan timeout)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return EventFd.Read();
        }

        while (true)
        {
            TimeSpan left = Left(start, timeout);
            if (!EventFd.Wait(left))
            {
                return 0;
            }

            if (EventFd.TryRead(out ulong value))
            {
                return value;
            }

            if (left == TimeSpan.Zero)
            {
                return 0;
            }
        }
    }

    /// <summary>Under the gate: waits until the pump (or earlier signals) fed <c>_pending</c>, then takes it.</summary>
    private ulong WaitForPump(long start, TimeSpan timeout)
    {
        while (_pending == 0)
        {
            ObjectDisposedException.ThrowIf(_closed, typeof(IvshmemPeer));
            TimeSpan left = Left(start, timeout);
            if (left == TimeSpan.Zero || !Monitor.Wait(_gate, left))
            {
                if (_pending == 0)
                {
                    return 0;
                }
            }
        }

        ulong ready = _pending;
        _pending = 0;
        return ready;
    }

    private static TimeSpan Left(long start, TimeSpan timeout)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return timeout;
        }

        TimeSpan left = timeout - Stopwatch.GetElapsedTime(start);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    private void Cancel(TaskCompletionSource<ulong> waiter, CancellationToken token)
    {
        lock (_gate)
        {
            if (_waiters.Contains(waiter))
            {
                var kept = _waiters.Where(w => w != waiter).ToArray();
                _waiters.Clear();
                foreach (var w in kept)
                {
                    _waiters.Enqueue(w);
                }

                waiter.TrySetCanceled(token);
                StopPumpIfIdle();
            }
        }
    }

    /// <summary>Under the gate: starts the reader that feeds handlers and asynchronous waiters (after a direct read ends).</summary>
    private void EnsurePump()
    {
        if (_closed)
        {
            return;
        }

        if (_readingDirectly)
        {
            _pumpDeferred = true; // two readers of one eventfd would race for the counter
            return;
        }

        if (_pump is null)
        {
            _pump = new CancellationTokenSource();
            _ = PumpAsync(_pump.Token);
        }
    }

    private void StopPumpIfIdle()
    {
        if (_pump is not null && _handlers is null && _waiters.Count == 0)
        {
            _pump.Cancel();
            _pump = null;
        }
    }

    private async Task PumpAsync(CancellationToken token)
    {
        while (true)
        {
            ulong value;
            try
            {
                value = await EventFd.WaitAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return; // the peer closed the eventfd; Close failed the waiters
            }

            Deliver(value);
            if (token.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private void Deliver(ulong value)
    {
        Action<IvshmemVector, ulong>? handlers;
        lock (_gate)
        {
            Interlocked.Add(ref _total, (long)value);
            Interlocked.Increment(ref _wakeups);
            handlers = _handlers;
            if (_waiters.TryDequeue(out var waiter))
            {
                ulong count = _pending + value;
                _pending = 0;
                waiter.TrySetResult(count);
            }
            else
            {
                _pending += value;
                Monitor.PulseAll(_gate);
            }

            StopPumpIfIdle();
        }

        if (handlers is null)
        {
            return;
        }

        if (handlers.HasSingleTarget)
        {
            Invoke(handlers, value);
            return;
        }

        foreach (Delegate handler in handlers.GetInvocationList())
        {
            Invoke((Action<IvshmemVector, ulong>)handler, value);
        }
    }

    private void Invoke(Action<IvshmemVector, ulong> handler, ulong value)
    {
        try
        {
            handler(this, value);
        }
        catch (Exception e)
        {
            _log.Write(PciLogLevel.Warning, "ivshmem-peer", $"a Signaled handler of vector {Index} threw {e.GetType().Name}: {e.Message}");
        }
    }
}
