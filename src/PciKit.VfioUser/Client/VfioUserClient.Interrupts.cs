using PciKit.Device;
using PciKit.Driver;
using PciKit.Linux;
using PciKit.VfioUser.Protocol;

namespace PciKit.VfioUser.Client;

public sealed partial class VfioUserClient
{
    /// <summary>The address programmed into MSI/MSI-X: the server maps messages to eventfds by vector, so it only has to be valid.</summary>
    public const ulong MsiAddress = 0xFEE0_0000;

    /// <summary>Most <see cref="IInterruptReceiver.Signal"/> calls one wake delivers (an eventfd counter can be huge).</summary>
    private const ulong MaxSignalsPerWake = 1 << 16;

    private readonly InterruptRoute?[] _routes = new InterruptRoute?[3];
    private int _routeCount;

    /// <summary>The eventfds of one attached IRQ index and the receiver they feed.</summary>
    private sealed class InterruptRoute(PciInterruptKind kind, EventFd[] fds, IInterruptReceiver receiver)
    {
        public PciInterruptKind Kind { get; } = kind;
        public EventFd[] Fds { get; } = fds;
        public IInterruptReceiver Receiver { get; } = receiver;
        public CancellationTokenSource Stop { get; } = new();
        public volatile bool Stopped;
        /// <summary>Per vector, the epoll wait in progress; guarded by <see cref="Gate"/>. Whoever clears a completed one delivers its value.</summary>
        public Task<ulong>?[] Pending { get; } = new Task<ulong>?[fds.Length];
        public Lock Gate { get; } = new();

        /// <summary>Takes the value of a wait the epoll thread completed but whose continuation has not run yet.</summary>
        public bool TryClaimCompleted(int vector, Task<ulong>? expected, out ulong value)
        {
            using var _ = Gate.EnterScope();
            var t = Pending[vector];
            if (t is null || !t.IsCompletedSuccessfully || (expected is not null && t != expected)) { value = 0; return false; }
            Pending[vector] = null;
            value = t.Result;
            return true;
        }
    }

    /// <summary>
    /// Creates <paramref name="count"/> eventfds, attaches them with DEVICE_SET_IRQS (DATA_EVENTFD | ACTION_TRIGGER,
    /// in batches of the server's max_msg_fds) and waits on them on the shared epoll thread. Each wake calls
    /// <see cref="IInterruptReceiver.Signal"/> once per counter unit (once per interrupt the server raised), so
    /// <see cref="InterruptVector"/> counts interrupts, not wake-ups. After each INTx wake the client sends
    /// ACTION_UNMASK (the VFIO automask model). Returns address <see cref="MsiAddress"/>, data = vector for MSI/MSI-X;
    /// nothing for INTx.
    /// </summary>
    public IReadOnlyList<MsiMessage> AttachInterrupts(PciInterruptKind kind, int count, IInterruptReceiver receiver)
    {
        ArgumentNullException.ThrowIfNull(receiver);
        if ((uint)kind > (uint)PciInterruptKind.MsiX) throw new ArgumentOutOfRangeException(nameof(kind));
        var info = _irqs[(int)kind];
        if (count < 1 || (uint)count > info.Count)
            throw new PciDriverException($"The vfio-user server at {Description} offers {info.Count} {kind} vector(s); {count} were asked for.");
        if ((info.Flags & VfioIrqInfoFlags.EventFd) == 0)
            throw new PciDriverException($"The vfio-user server at {Description} cannot signal {kind} through eventfds.");
        if (_routes[(int)kind] is not null) DetachInterrupts(kind);

        var fds = new EventFd[count];
        int created = 0;
        try
        {
            for (; created < count; created++) fds[created] = new EventFd(options: EventFdOptions.NonBlocking);
            var handles = fds.Select(f => f.Handle).ToArray();
            int batch = (int)Math.Clamp(_serverCaps.MaxMessageFds, 1u, (uint)MaxClientFds);
            using (_lock.EnterScope())
            {
                for (int start = 0; start < count; start += batch)
                {
                    int n = Math.Min(batch, count - start);
                    SetIrqs(SetIrqsRequest.DataEventFd | SetIrqsRequest.ActionTrigger, (uint)kind, (uint)start, (uint)n, handles.AsSpan(start, n));
                }
            }
        }
        catch
        {
            if (created == count) TryDisableIndex(kind);
            for (int i = 0; i < created; i++) fds[i].Dispose();
            throw;
        }

        var route = new InterruptRoute(kind, fds, receiver);
        _routes[(int)kind] = route;
        Interlocked.Increment(ref _routeCount);
        for (int i = 0; i < count; i++) _ = WaitLoopAsync(route, i);

        if (kind == PciInterruptKind.Intx) return [];
        var messages = new MsiMessage[count];
        for (int i = 0; i < count; i++) messages[i] = new MsiMessage(kind, i, MsiAddress, (uint)i);
        return messages;
    }

    /// <summary>Detaches every eventfd of <paramref name="kind"/> (DATA_NONE | ACTION_TRIGGER, count 0) and closes them.</summary>
    public void DetachInterrupts(PciInterruptKind kind)
    {
        if ((uint)kind > (uint)PciInterruptKind.MsiX) return;
        var route = Interlocked.Exchange(ref _routes[(int)kind], null);
        if (route is null) return;
        Interlocked.Decrement(ref _routeCount);
        StopRoute(route);
        TryDisableIndex(kind);
        DisposeRoute(route);
    }

    private void TryDisableIndex(PciInterruptKind kind)
    {
        if (_disconnected) return;
        try
        {
            using (_lock.EnterScope()) SetIrqs(SetIrqsRequest.DataNone | SetIrqsRequest.ActionTrigger, (uint)kind, 0, 0, default);
        }
        catch (VfioUserDisconnectedException)
        {
            // Nothing to detach from any more.
        }
    }

    private void SetIrqs(uint flags, uint index, uint start, uint count, ReadOnlySpan<SafeFd> fds)
    {
        int n = SetIrqsRequest.Write(_request, flags, index, start, count, default);
        Request(VfioUserCommand.DeviceSetIrqs, _request.AsSpan(0, n), fds);
    }

    private async Task WaitLoopAsync(InterruptRoute route, int vector)
    {
        var fd = route.Fds[vector];
        while (!route.Stopped)
        {
            Task<ulong> wait;
            try
            {
                using (route.Gate.EnterScope()) wait = route.Pending[vector] = fd.WaitAsync(route.Stop.Token).AsTask();
                await wait.ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or LinuxException)
            {
                return;
            }
            // The request path may have delivered this value already (see AfterReply).
            if (route.TryClaimCompleted(vector, wait, out ulong value)) Deliver(route, vector, value, unmaskInline: true);
        }
    }

    private void Deliver(InterruptRoute route, int vector, ulong value, bool unmaskInline)
    {
        if (route.Stopped) return;
        ulong signals = Math.Min(value, MaxSignalsPerWake);
        for (ulong i = 0; i < signals; i++) route.Receiver.Signal(vector);
        if (route.Kind != PciInterruptKind.Intx) return;
        if (unmaskInline) UnmaskIntx(route);
        else ThreadPool.UnsafeQueueUserWorkItem(static s => s.Client.UnmaskIntx(s.Route), (Client: this, Route: route), preferLocal: false);
    }

    /// <summary>ACTION_UNMASK | DATA_NONE for INTx, so a line that is still asserted fires again. Runs off the request path.</summary>
    private void UnmaskIntx(InterruptRoute route)
    {
        try
        {
            using (_lock.EnterScope())
            {
                if (route.Stopped || _disconnected) return;
                SetIrqs(SetIrqsRequest.DataNone | SetIrqsRequest.ActionUnmask, VfioPciIrq.Intx, 0, 1, default);
            }
        }
        catch (Exception e) when (e is VfioUserException or TimeoutException or ObjectDisposedException)
        {
            // The next INTx attach starts unmasked; a lost connection is reported to the next request.
        }
    }

    /// <summary>
    /// After a reply: delivers what the server signalled before it replied (when
    /// <see cref="VfioUserClientOptions.DeliverInterruptsWithReplies"/>), so register writes that raise an interrupt
    /// are observed when they return. Called without the lock held.
    /// </summary>
    private void AfterReply()
    {
        if (!_options.DeliverInterruptsWithReplies || Volatile.Read(ref _routeCount) == 0) return;
        foreach (var route in _routes)
        {
            if (route is null || route.Stopped) continue;
            for (int i = 0; i < route.Fds.Length; i++)
            {
                // A wake the epoll thread already read but has not delivered yet (its continuation is queued).
                if (route.TryClaimCompleted(i, null, out ulong value)) Deliver(route, i, value, unmaskInline: false);
                try
                {
                    if (!route.Fds[i].TryRead(out value)) continue;
                }
                catch (Exception e) when (e is ObjectDisposedException or LinuxException)
                {
                    break; // detached meanwhile
                }
                Deliver(route, i, value, unmaskInline: false);
            }
        }
    }

    private static void StopRoute(InterruptRoute route)
    {
        route.Stopped = true;
        route.Stop.Cancel();
    }

    private static void DisposeRoute(InterruptRoute route)
    {
        foreach (var fd in route.Fds) fd.Dispose();
        route.Stop.Dispose();
    }

    private void StopAllInterrupts()
    {
        for (int k = 0; k < _routes.Length; k++)
        {
            var route = Interlocked.Exchange(ref _routes[k], null);
            if (route is null) continue;
            Interlocked.Decrement(ref _routeCount);
            StopRoute(route);
            DisposeRoute(route);
        }
    }
}
