using PciKit.Device;
using PciKit.Linux;

namespace PciKit.QemuProxy;

/// <summary>
/// The device's interrupt sink while served to QEMU: INTx only, as a level over KVM's resampling irqfd. A rising line
/// writes 1 to the irqfd (KVM asserts the GSI); when the guest EOIs, KVM lowers the GSI and signals the resample
/// eventfd, and the line is asserted again if the device still holds it high. MSI/MSI-X messages are counted and
/// dropped: the protocol has no way to deliver them.
/// </summary>
/// <remarks>
/// All state is guarded by the device lock: <see cref="SetIntx"/> is called under it, <see cref="Attach"/> and the
/// resample continuation take it.
/// </remarks>
internal sealed class ProxyInterrupts(PciDevice device, QemuProxyCounters counters, IPciLog log) : IInterruptSink, IDisposable
{
    private EventFd? _irq;
    private EventFd? _resample;
    private bool _level;
    private bool _msiWarned;
    private bool _disposed;

    /// <summary>The INTx line as the device drives it (after Interrupt Disable and MSI gating).</summary>
    public bool Level => _level;

    public void SetIntx(bool asserted)
    {
        _level = asserted;
        if (asserted) Signal();
    }

    public void SendMessage(in MsiMessage message)
    {
        Interlocked.Increment(ref counters.DroppedMessageInterrupts);
        if (_msiWarned) return;
        _msiWarned = true;
        log.Write(PciLogLevel.Warning, "qemu-proxy",
            $"{device.Name} sent an {(message.Kind == PciInterruptKind.Msi ? "MSI" : "MSI-X")} message; QEMU 7.2's proxy cannot deliver MSI/MSI-X, so it is dropped (further drops are only counted). Have the guest use INTx (Linux: pci=nomsi) or serve the device over vfio-user.");
    }

    /// <summary>Takes ownership of QEMU's irqfd and resample eventfd, replacing (and closing) the previous pair.</summary>
    public void Attach(EventFd irq, EventFd resample)
    {
        EventFd? oldIrq, oldResample;
        using (device.SyncRoot.EnterScope())
        {
            if (_disposed)
            {
                irq.Dispose();
                resample.Dispose();
                return;
            }
            oldIrq = _irq;
            oldResample = _resample;
            _irq = irq;
            _resample = resample;
            // A line already high (asserted before QEMU routed it, or across a re-route) is delivered on the new irqfd.
            if (_level) Signal();
        }
        oldResample?.Dispose(); // fails its pending wait: the old resample loop ends
        oldIrq?.Dispose();
        _ = ResampleLoop(resample);
    }

    private async Task ResampleLoop(EventFd resample)
    {
        while (true)
        {
            try
            {
                await resample.WaitAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException or LinuxException)
            {
                return;
            }
            using (device.SyncRoot.EnterScope())
            {
                if (!ReferenceEquals(resample, _resample)) return;
                if (_level) Signal();
            }
        }
    }

    /// <summary>Writes 1 to the irqfd; called under the device lock.</summary>
    private void Signal()
    {
        var irq = _irq;
        if (irq is null) return;
        try
        {
            irq.Signal(1);
            Interlocked.Increment(ref counters.IrqfdSignals);
        }
        catch (Exception e) when (e is LinuxException or ObjectDisposedException)
        {
            log.Write(PciLogLevel.Warning, "qemu-proxy", $"irqfd write failed: {e.Message}");
        }
    }

    public void Dispose()
    {
        EventFd? irq, resample;
        using (device.SyncRoot.EnterScope())
        {
            _disposed = true;
            irq = _irq;
            resample = _resample;
            _irq = _resample = null;
        }
        resample?.Dispose();
        irq?.Dispose();
    }
}
