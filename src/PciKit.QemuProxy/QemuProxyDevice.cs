using PciKit.Config;
using PciKit.Device;
using PciKit.Linux;
using PciKit.QemuProxy.Protocol;

namespace PciKit.QemuProxy;

/// <summary>
/// Serves one <see cref="PciDevice"/> to QEMU 7.2's multi-process proxy (<c>-device x-pci-proxy-dev,id=ID,fd=N</c>,
/// the QEMU that Debian 12 and Ubuntu 24.04 ship) over an already-connected socket: one end of a socketpair whose
/// other end QEMU inherited as fd N (see <see cref="QemuProxyLauncher"/>).
/// </summary>
/// <remarks>
/// <para>What QEMU 7.2's proxy can do, and what it cannot:</para>
/// <list type="bullet">
/// <item>BARs: only 32-bit non-prefetchable memory BARs and I/O BARs (QEMU sizes BARs 0–5 with the all-ones probe and
/// registers each as one of those). A device with a 64-bit or prefetchable BAR or an expansion ROM is refused by
/// <see cref="Start"/>; serve it over vfio-user instead. Configuration space is conventional (256 bytes): extended
/// capabilities are never reached.</item>
/// <item>Interrupts: INTx only, through KVM's irqfd. <b>MSI and MSI-X are unavailable</b>: the capability may exist in
/// the device's configuration space and a guest may enable it, but QEMU will not deliver the messages (they are
/// counted in <see cref="QemuProxyCounters.DroppedMessageInterruptCount"/>); make the guest use INTx (Linux:
/// <c>pci=nomsi</c>). <b>Interrupts reach the guest only under KVM</b>: with <c>-accel tcg</c> QEMU ignores the irqfd and
/// every interrupt is lost (configuration, BAR and DMA work under both).</item>
/// <item>DMA: only when QEMU's RAM is a shared memfd (<c>-object memory-backend-memfd,id=mem,size=…,share=on -machine
/// …,memory-backend=mem</c>); QEMU then sends its RAM sections (at most 8) and the device reaches guest-physical
/// addresses directly. Without it, every device DMA fails as unmapped.</item>
/// </list>
/// <para>Threading: one thread reads each message, runs it against the device and replies (the link is strictly
/// request/reply; the device never speaks first). Malformed messages are logged and counted; when the stream is
/// still in step the link keeps serving (a request that expects a reply gets RET all-ones, which QEMU reports as a
/// failed operation), otherwise the link is closed.</para>
/// <para>Ownership: the device is connected to this link (its interrupt sink and DMA space) until the link ends; the
/// link owns the socket, the received eventfds and the guest RAM mappings, and releases them when QEMU hangs up or on
/// <see cref="Dispose"/>.</para>
/// </remarks>
public sealed partial class QemuProxyDevice : IDisposable
{
    private readonly UnixSocket _socket;
    private readonly Thread _thread;
    private readonly ProxyInterrupts _irqs;
    private readonly ProxyMemory _memory;
    private readonly ReceivedFds _fds = new(MpqemuMessage.MaxFds);
    private readonly byte[] _rx = new byte[MpqemuMessage.HeaderSize + MpqemuMessage.MaxDataSize];
    private readonly byte[] _tx = new byte[RetData.MessageSize];
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _stopping;
    private int _disposed;
    private long _logged;

    private QemuProxyDevice(PciDevice device, UnixSocket socket, QemuProxyOptions options)
    {
        Device = device;
        _socket = socket;
        Log = options.Log ?? device.Log;
        _irqs = new ProxyInterrupts(device, Counters, Log);
        _memory = new ProxyMemory(device, Counters, Log, options.DmaIdleTimeout);
        _thread = new Thread(Run) { IsBackground = true, Name = $"qemu-proxy {device.Name}" };
    }

    /// <summary>
    /// Starts serving <paramref name="device"/> (realized) to QEMU over <paramref name="socket"/>, which this object
    /// owns from now on. The device is connected to the link (its interrupts and DMA go to QEMU) until the link ends.
    /// </summary>
    /// <exception cref="PciDefinitionException">
    /// The device is not realized, or has a BAR QEMU 7.2's proxy cannot present (64-bit, prefetchable, expansion ROM).
    /// </exception>
    public static QemuProxyDevice Start(PciDevice device, UnixSocket socket, QemuProxyOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(socket);
        EnsureSupported(device);
        var proxy = new QemuProxyDevice(device, socket, options ?? new QemuProxyOptions());
        device.Connect(proxy._irqs, proxy._memory.Space);
        proxy._thread.Start();
        return proxy;
    }

    /// <summary>
    /// Throws <see cref="PciDefinitionException"/> if QEMU 7.2's proxy cannot present <paramref name="device"/>: it must
    /// be realized and have only 32-bit non-prefetchable memory BARs and I/O BARs (no expansion ROM). Call it before
    /// starting QEMU to fail early; <see cref="Start"/> calls it too.
    /// </summary>
    public static void EnsureSupported(PciDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (!device.IsRealized) throw new PciDefinitionException($"{device.Name} is not realized; call Realize() before serving it.");
        for (int i = 0; i <= PciDevice.RomIndex; i++)
        {
            var bar = device.GetBar(i);
            if (bar is null) continue;
            if (bar.Kind == PciBarKind.Rom)
                throw new PciDefinitionException($"{device.Name} has an expansion ROM; QEMU 7.2's proxy does not map one (it supports only 32-bit non-prefetchable memory and I/O BARs). Remove the ROM or use vfio-user.");
            if (bar.Kind == PciBarKind.Memory64 || bar.Prefetchable)
                throw new PciDefinitionException($"{device.Name} BAR {i} is a {(bar.Kind == PciBarKind.Memory64 ? "64-bit" : "32-bit")}{(bar.Prefetchable ? " prefetchable" : "")} memory BAR; QEMU 7.2's proxy supports only 32-bit non-prefetchable memory and I/O BARs. Define it with PciBar.Memory32(size) or use vfio-user.");
        }
    }

    /// <summary>The device served.</summary>
    public PciDevice Device { get; }

    /// <summary>Where the link logs.</summary>
    public IPciLog Log { get; }

    /// <summary>What the link saw.</summary>
    public QemuProxyCounters Counters { get; } = new();

    /// <summary>Completes when the link has ended (QEMU hung up or closed the device, a fatal protocol error, or <see cref="Dispose"/>) and its resources are released.</summary>
    public Task Completion => _completion.Task;

    /// <summary>True while the link is being served.</summary>
    public bool IsRunning => !_completion.Task.IsCompleted;

    /// <summary>Stops serving: closes the link (QEMU sees the device vanish), disconnects the device, releases every fd and mapping.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stopping = true;
        try { _socket.Shutdown(); } catch (Exception e) when (e is LinuxException or ObjectDisposedException) { }
        if (Thread.CurrentThread != _thread && _thread.IsAlive) _thread.Join(TimeSpan.FromSeconds(10));
    }

    private void Run()
    {
        try
        {
            Serve();
        }
        catch (Exception e)
        {
            Log.Write(PciLogLevel.Error, "qemu-proxy", $"the link failed: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            Device.Disconnect();
            _irqs.Dispose();
            _memory.Dispose();
            _fds.Dispose();
            _socket.Dispose();
            Log.Write(PciLogLevel.Information, "qemu-proxy", $"link to QEMU closed ({Device.Name})");
            _completion.TrySetResult();
        }
    }

    private void Serve()
    {
        var header = _rx.AsSpan(0, MpqemuMessage.HeaderSize);
        while (!_stopping)
        {
            _fds.Clear();
            if (!ReadExactly(header)) return;
            if (!MpqemuMessage.TryReadHeader(header, out var command, out ulong size, out var error))
            {
                Interlocked.Increment(ref Counters.Malformed);
                if (error != MpqemuError.UnknownCommand)
                {
                    // The size cannot be trusted: skipping would only guess where the next header starts.
                    LogError($"command {(int)command} announces {size} bytes of data: {MpqemuMessage.Describe(error)}; closing the link");
                    return;
                }
                if (!ReadExactly(_rx.AsSpan(MpqemuMessage.HeaderSize, (int)size))) return;
                LogError($"command {(int)command} ({size} bytes, {_fds.Count} fds): {MpqemuMessage.Describe(error)}; skipped");
                continue;
            }
            if (!ReadExactly(_rx.AsSpan(MpqemuMessage.HeaderSize, (int)size))) return;
            Interlocked.Increment(ref Counters.Messages);
            Handle(command, _rx.AsSpan(MpqemuMessage.HeaderSize, (int)size));
        }
    }

    private bool ReadExactly(Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n;
            try
            {
                n = _socket.Receive(buffer[done..], _fds);
            }
            catch (LinuxException e) when (e.Errno is 104 /* ECONNRESET */ or 9 /* EBADF */)
            {
                return false;
            }
            if (n == 0) return false;
            done += n;
        }
        return true;
    }

    private void Reply(ulong value)
    {
        int n = RetData.WriteMessage(_tx, value);
        try
        {
            _socket.SendAll(_tx.AsSpan(0, n));
        }
        catch (LinuxException e) when (e.Errno is 32 /* EPIPE */ or 104 /* ECONNRESET */ or 9 /* EBADF */)
        {
            _stopping = true; // QEMU is gone; the read loop ends
        }
    }

    /// <summary>Logs a protocol error: the first 20, then every 1000th.</summary>
    private void LogError(string message)
    {
        long n = Interlocked.Increment(ref _logged);
        if (n <= 20 || n % 1000 == 0)
            Log.Write(PciLogLevel.Warning, "qemu-proxy", n == 20 ? message + " (further errors are logged every 1000th)" : message);
    }
}
