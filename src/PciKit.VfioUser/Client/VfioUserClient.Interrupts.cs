using System.Buffers.Binary;
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
        /// <summary>INTx fired and is automasked by the server; the client unmasks once the line is down.</summary>
        public volatile bool UnmaskPending;
        /// <summary>Held across reading an eventfd and signalling what it read, so a reader that finds the counter empty knows the signal was delivered.</summary>
        public Lock Gate { get; } = new();
    }

    /// <summary>
    /// Creates <paramref name="count"/> eventfds, attaches them with DEVICE_SET_IRQS (DATA_EVENTFD | ACTION_TRIGGER,
    /// in batches of the server's max_msg_fds) and waits on them on the shared epoll thread. Each wake calls
    /// <see cref="IInterruptReceiver.Signal"/> once per counter unit (once per interrupt the server raised), so
    /// <see cref="InterruptVector"/> counts interrupts, not wake-ups. After an INTx wake the client sends
    /// ACTION_UNMASK once the line is down (the VFIO automask model; see <see cref="TryUnmaskIntx"/>). Returns address <see cref="MsiAddress"/>, data = vector for MSI/MSI-X;
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
            try
            {
                await fd.WaitReadableAsync(route.Stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or LinuxException)
            {
                return;
            }
            DrainVector(route, vector);
            if (route.UnmaskPending) TryUnmaskIntx(route);
        }
    }

    /// <summary>
    /// Reads vector <paramref name="vector"/>'s counter and calls <see cref="IInterruptReceiver.Signal"/> once per unit,
    /// both under the route's gate: a concurrent reader that finds the counter empty has waited for this delivery.
    /// </summary>
    private static void DrainVector(InterruptRoute route, int vector)
    {
        using var _ = route.Gate.EnterScope();
        if (route.Stopped) return;
        ulong value;
        try
        {
            if (!route.Fds[vector].TryRead(out value)) return;
        }
        catch (Exception e) when (e is ObjectDisposedException or LinuxException)
        {
            return; // detached meanwhile
        }
        ulong signals = Math.Min(value, MaxSignalsPerWake);
        for (ulong i = 0; i < signals; i++) route.Receiver.Signal(vector);
        if (route.Kind == PciInterruptKind.Intx) route.UnmaskPending = true;
    }

    /// <summary>
    /// INTx is automasked by the server after each delivery (VFIO's model), and an unmask while the line is still
    /// asserted delivers it again. The client therefore unmasks (SET_IRQS ACTION_UNMASK | DATA_NONE) only once the
    /// line is down — Interrupt Status clear in the Status register, or Interrupt Disable set — which it checks after
    /// each wake and after each access the driver makes while an unmask is pending (the driver's acknowledgement).
    /// A driver thus sees one interrupt per assertion of the line, as on the in-process bus. Returns true when sent.
    /// </summary>
    private bool TryUnmaskIntx(InterruptRoute route)
    {
        try
        {
            using (_lock.EnterScope())
            {
                if (!route.UnmaskPending || route.Stopped || _disconnected) return false;
                int n = new RegionAccess(4, VfioPciRegion.Config, 4).Write(_request);
                var reply = Request(VfioUserCommand.RegionRead, _request.AsSpan(0, n));
                if (reply.Length != RegionAccess.FixedSize + 4) return false;
                uint commandStatus = BinaryPrimitives.ReadUInt32LittleEndian(reply[RegionAccess.FixedSize..]);
                bool disabled = (commandStatus & 0x400) != 0, asserted = (commandStatus & (0x08u << 16)) != 0;
                if (asserted && !disabled) return false;
                route.UnmaskPending = false;
                SetIrqs(SetIrqsRequest.DataNone | SetIrqsRequest.ActionUnmask, VfioPciIrq.Intx, 0, 1, default);
                return true;
            }
        }
        catch (Exception e) when (e is VfioUserException or TimeoutException or ObjectDisposedException)
        {
            return false; // a lost connection is reported to the next request
        }
    }

    /// <summary>
    /// After a driver access: delivers what the server signalled before it replied (when
    /// <see cref="VfioUserClientOptions.DeliverInterruptsWithReplies"/>), so register writes that raise an interrupt
    /// are observed when they return, and unmasks INTx if the access brought the line down. Called without the lock.
    /// </summary>
    private void AfterReply()
    {
        if (Volatile.Read(ref _routeCount) == 0) return;
        bool drain = _options.DeliverInterruptsWithReplies;
        foreach (var route in _routes)
        {
            if (route is null || route.Stopped) continue;
            if (drain) for (int i = 0; i < route.Fds.Length; i++) DrainVector(route, i);
            if (route.UnmaskPending && TryUnmaskIntx(route) && drain) DrainVector(route, 0);
        }
    }

    private static void StopRoute(InterruptRoute route)
    {
        route.Stopped = true;
        route.Stop.Cancel();
        route.Gate.Enter(); // wait for a delivery in progress
        route.Gate.Exit();
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
