using System.Collections.Concurrent;
using PciKit.Linux.Interop;

namespace PciKit.Linux;

/// <summary>
/// One background thread and one epoll instance shared by every <see cref="EventFd.WaitAsync"/> in the
/// process, so waiting on N eventfds costs one thread, not N. Each eventfd is registered once
/// (EPOLLIN | EPOLLONESHOT) and re-armed while it has waiters; the loop thread performs the reads and
/// completes waiters in FIFO order with continuations forced asynchronous, so user code never runs on it.
/// </summary>
internal sealed class EpollLoop
{
    private const int MaxEvents = 64;

    private static readonly Lazy<EpollLoop> s_shared = new(() => new EpollLoop(), LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly SafeFd _epoll;
    private readonly ConcurrentDictionary<ulong, Registration> _registrations = new();
    private long _nextId;

    private EpollLoop()
    {
        _epoll = ThrowHelper.CheckFd(Libc.EpollCreate1(Libc.EPOLL_CLOEXEC), "epoll_create1");
        var thread = new Thread(Run) { IsBackground = true, Name = "PciKit eventfd epoll" };
        thread.UnsafeStart();
    }

    internal static EpollLoop Shared => s_shared.Value;

    internal Registration Register(EventFd owner)
    {
        var registration = new Registration(this, owner, (ulong)Interlocked.Increment(ref _nextId));
        _registrations[registration.Id] = registration;
        return registration;
    }

    private unsafe void Run()
    {
        int stride = Libc.EpollEventSize;
        int dataOffset = Libc.EpollEventDataOffset;
        byte* events = stackalloc byte[MaxEvents * 16];
        while (true)
        {
            int count = Libc.EpollWait(_epoll, events, MaxEvents, -1);
            if (count < 0)
            {
                continue; // EINTR; nothing else is expected for a valid epoll fd and buffer.
            }

            for (int i = 0; i < count; i++)
            {
                ulong id = *(ulong*)(events + (i * stride) + dataOffset);
                if (_registrations.TryGetValue(id, out Registration? registration))
                {
                    registration.OnReady();
                }
            }
        }
    }

    private unsafe int Control(int op, SafeFd fd, ulong id)
    {
        byte* ev = stackalloc byte[16];
        *(uint*)ev = Libc.EPOLLIN | Libc.EPOLLONESHOT;
        *(ulong*)(ev + Libc.EpollEventDataOffset) = id;
        return Libc.EpollCtl(_epoll, op, fd, ev);
    }

    /// <summary>One eventfd's waiters. All state is guarded by <c>this</c>.</summary>
    internal sealed class Registration
    {
        private readonly EpollLoop _loop;
        private readonly EventFd _owner;
        private readonly LinkedList<Waiter> _waiters = new();
        private bool _added;
        private bool _closed;

        internal Registration(EpollLoop loop, EventFd owner, ulong id)
        {
            _loop = loop;
            _owner = owner;
            Id = id;
        }

        internal ulong Id { get; }

        internal async ValueTask<ulong> WaitAsync(CancellationToken cancellationToken, bool consume = true)
        {
            var waiter = new Waiter(this, cancellationToken, consume);
            lock (this)
            {
                ObjectDisposedException.ThrowIf(_closed, _owner);
                _waiters.AddLast(waiter.Node);
                try
                {
                    Arm();
                }
                catch
                {
                    _waiters.Remove(waiter.Node);
                    throw;
                }
            }

            // Registering after the waiter is queued: an already-cancelled token runs the callback inline.
            using (cancellationToken.UnsafeRegister(static state => ((Waiter)state!).Cancel(), waiter))
            {
                return await waiter.Task.ConfigureAwait(false);
            }
        }

        /// <summary>Called on the loop thread when the eventfd became readable.</summary>
        internal void OnReady()
        {
            lock (this)
            {
                if (_closed)
                {
                    return;
                }

                try
                {
                    while (_waiters.First is { } first)
                    {
                        // A readiness-only waiter (EventFd.WaitReadableAsync) completes without consuming the counter.
                        ulong value = 0;
                        if (first.Value.Consume && !_owner.TryReadCore(out value))
                        {
                            break;
                        }

                        _waiters.RemoveFirst();
                        first.Value.TrySetResult(value);
                    }

                    if (_waiters.Count > 0)
                    {
                        Arm();
                    }
                }
                catch (Exception ex)
                {
                    FailAll(ex);
                }
            }
        }

        /// <summary>Unregisters from epoll (before the descriptor is closed) and fails pending waiters.</summary>
        internal void Close()
        {
            lock (this)
            {
                if (_closed)
                {
                    return;
                }

                _closed = true;
                if (_added)
                {
                    _ = _loop.Control(Libc.EPOLL_CTL_DEL, _owner.Handle, Id);
                }

                _loop._registrations.TryRemove(Id, out _);
                FailAll(new ObjectDisposedException(nameof(EventFd)));
            }
        }

        private void Arm()
        {
            int op = _added ? Libc.EPOLL_CTL_MOD : Libc.EPOLL_CTL_ADD;
            if (_loop.Control(op, _owner.Handle, Id) < 0)
            {
                ThrowHelper.ThrowLastError("epoll_ctl", "eventfd");
            }

            _added = true;
        }

        private void FailAll(Exception ex)
        {
            while (_waiters.First is { } first)
            {
                _waiters.RemoveFirst();
                first.Value.TrySetException(ex);
            }
        }

        /// <summary>One pending WaitAsync. Completed only by whoever removes it from the list, under the lock.</summary>
        private sealed class Waiter : TaskCompletionSource<ulong>
        {
            private readonly Registration _registration;
            private readonly CancellationToken _token;

            internal Waiter(Registration registration, CancellationToken token, bool consume)
                : base(TaskCreationOptions.RunContinuationsAsynchronously)
            {
                _registration = registration;
                _token = token;
                Consume = consume;
                Node = new LinkedListNode<Waiter>(this);
            }

            /// <summary>False for a readiness-only wait.</summary>
            internal bool Consume { get; }

            internal LinkedListNode<Waiter> Node { get; }

            internal void Cancel()
            {
                lock (_registration)
                {
                    // A waiter the loop thread already dequeued keeps its value: nothing is consumed and lost.
                    if (Node.List is not null)
                    {
                        _registration._waiters.Remove(Node);
                        TrySetCanceled(_token);
                    }
                }
            }
        }
    }
}
