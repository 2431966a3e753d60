using PciKit.Linux.Interop;

namespace PciKit.Linux;

/// <summary>
/// An eventfd(2) counter: <see cref="Signal"/> adds to it, reads consume it. Used for interrupts (irqfd)
/// and doorbells (ioeventfd); the descriptor is typically passed to a peer over a <see cref="UnixSocket"/>.
/// </summary>
/// <remarks>
/// All members are thread-safe. <see cref="Dispose"/> fails pending <see cref="WaitAsync"/> calls with
/// <see cref="ObjectDisposedException"/>; a thread blocked in <see cref="Read"/> keeps the descriptor open
/// until it returns (signal the eventfd to release it).
/// </remarks>
public sealed class EventFd : IDisposable
{
    private readonly object _registrationLock = new();
    private EpollLoop.Registration? _registration;
    private bool _disposed;

    /// <summary>Creates an eventfd with EFD_CLOEXEC.</summary>
    /// <param name="initialValue">The initial counter value.</param>
    /// <param name="options">Semaphore and non-blocking options.</param>
    public EventFd(uint initialValue = 0, EventFdOptions options = EventFdOptions.None)
    {
        int flags = Libc.EFD_CLOEXEC;
        if ((options & EventFdOptions.Semaphore) != 0)
        {
            flags |= Libc.EFD_SEMAPHORE;
        }

        if ((options & EventFdOptions.NonBlocking) != 0)
        {
            flags |= Libc.EFD_NONBLOCK;
        }

        Handle = ThrowHelper.CheckFd(Libc.EventFd(initialValue, flags), "eventfd");
        IsNonBlocking = (options & EventFdOptions.NonBlocking) != 0;
    }

    private EventFd(SafeFd handle)
    {
        Handle = handle;
        IsNonBlocking = handle.IsNonBlocking;
    }

    /// <summary>The descriptor, e.g. to send to a peer. Owned by this object.</summary>
    public SafeFd Handle { get; }

    /// <summary>Whether O_NONBLOCK was set when this object was created.</summary>
    public bool IsNonBlocking { get; }

    /// <summary>Takes ownership of a descriptor that refers to an eventfd (e.g. one received from a peer).</summary>
    /// <param name="handle">The descriptor; disposed together with the returned object.</param>
    /// <returns>The wrapper.</returns>
    public static EventFd FromHandle(SafeFd handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        if (handle.IsInvalid || handle.IsClosed)
        {
            throw new ArgumentException("The handle is invalid or closed.", nameof(handle));
        }

        return new EventFd(handle);
    }

    /// <summary>Adds <paramref name="value"/> to the counter, waking readers.</summary>
    /// <param name="value">1 … 2^64 − 2.</param>
    /// <exception cref="LinuxException">EAGAIN when the counter would overflow on a non-blocking eventfd.</exception>
    public unsafe void Signal(ulong value = 1)
    {
        if (value == 0 || value == ulong.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(value), "An eventfd increment must be between 1 and 2^64 - 2.");
        }

        while (Libc.Write(Handle, &value, sizeof(ulong)) < 0)
        {
            int errno = ThrowHelper.LastErrno;
            if (errno != Errno.EINTR)
            {
                ThrowHelper.Throw(errno, "write", "eventfd");
            }
        }
    }

    /// <summary>Consumes the counter (or 1 in semaphore mode), blocking until it is non-zero.</summary>
    /// <returns>The value read.</returns>
    public ulong Read()
    {
        // On a blocking descriptor read(2) itself waits; EAGAIN (non-blocking, or a peer set O_NONBLOCK) falls back to poll.
        ulong value;
        while (!TryReadCore(out value))
        {
            Libc.PollOne(Handle, PollEvents.Readable, -1);
        }

        return value;
    }

    /// <summary>Consumes the counter if it is non-zero, without blocking.</summary>
    /// <param name="value">The value read, or 0.</param>
    /// <returns><see langword="false"/> when the counter was zero.</returns>
    /// <remarks>
    /// On a blocking descriptor (one received from a peer, or created without
    /// <see cref="EventFdOptions.NonBlocking"/>) this polls first and then reads; if another reader —
    /// in this or another process — consumes the counter between the two, the read blocks until the next signal.
    /// </remarks>
    public bool TryRead(out ulong value)
    {
        if (!IsNonBlocking && !Libc.PollOne(Handle, PollEvents.Readable, 0))
        {
            value = 0;
            return false;
        }

        return TryReadCore(out value);
    }

    /// <summary>Waits until the counter is non-zero, without consuming it.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> to wait forever.</param>
    /// <returns><see langword="false"/> on timeout.</returns>
    public bool Wait(TimeSpan timeout) => Libc.PollOne(Handle, PollEvents.Readable, Libc.ToPollTimeout(timeout));

    /// <summary>
    /// Waits for the counter to become non-zero and consumes it, like <see cref="Read"/>, without blocking a thread.
    /// Completes synchronously (no allocation) when the counter is already non-zero.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait; a cancelled wait consumes nothing.</param>
    /// <returns>The value read.</returns>
    /// <remarks>
    /// Readiness comes from one epoll thread shared by all eventfds in the process. The same caveat as
    /// <see cref="TryRead"/> applies to blocking descriptors read concurrently by other processes.
    /// </remarks>
    public ValueTask<ulong> WaitAsync(CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<ulong>(cancellationToken);
        }

        ObjectDisposedException.ThrowIf(_disposed, this);
        if (TryRead(out ulong value))
        {
            return new ValueTask<ulong>(value);
        }

        return GetRegistration().WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Waits until the counter is non-zero without consuming it (readiness only), on the shared epoll thread. Lets a
    /// caller read the counter itself under its own lock, so that reading and acting on a signal are one step.
    /// Completes synchronously when the counter is already non-zero.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    public ValueTask WaitReadableAsync(CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Libc.PollOne(Handle, PollEvents.Readable, 0))
        {
            return ValueTask.CompletedTask;
        }

        return new ValueTask(GetRegistration().WaitAsync(cancellationToken, consume: false).AsTask());
    }

    /// <summary>Fails pending asynchronous waits and closes the descriptor.</summary>
    public void Dispose()
    {
        EpollLoop.Registration? registration;
        lock (_registrationLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            registration = _registration;
        }

        registration?.Close();
        Handle.Dispose();
    }

    /// <summary>read(2) on a descriptor that may be non-blocking; false on EAGAIN.</summary>
    internal unsafe bool TryReadCore(out ulong value)
    {
        ulong buffer = 0;
        while (Libc.Read(Handle, &buffer, sizeof(ulong)) < 0)
        {
            int errno = ThrowHelper.LastErrno;
            if (errno == Errno.EAGAIN)
            {
                value = 0;
                return false;
            }

            if (errno != Errno.EINTR)
            {
                ThrowHelper.Throw(errno, "read", "eventfd");
            }
        }

        value = buffer;
        return true;
    }

    private EpollLoop.Registration GetRegistration()
    {
        lock (_registrationLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _registration ??= EpollLoop.Shared.Register(this);
        }
    }
}
