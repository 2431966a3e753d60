using PciKit.Config;
using PciKit.Device;
using PciKit.Linux;
using PciKit.VfioUser.Protocol;

namespace PciKit.VfioUser.Server;

/// <summary>
/// The device's interrupt sink while a vfio-user client is connected: INTx, MSI and MSI-X vectors raise the eventfds
/// the client attached with SET_IRQS. INTx follows VFIO's automask model (each delivery masks the line until the
/// client unmasks it; an unmask while the line is still asserted delivers again). MSI and MSI-X vectors can be
/// masked by the client; a vector signalled while masked is delivered on unmask. Called under the device lock.
/// </summary>
internal sealed class ServerInterrupts(PciDevice device, IPciLog log) : IInterruptSink, IDisposable
{
    private readonly Line[] _lines =
    [
        new(device.Identity.InterruptPin != PciInterruptPin.None ? 1 : 0),
        new(device.Msi?.Vectors ?? 0),
        new(device.MsiX?.Vectors ?? 0),
        new(1),
        new(1),
    ];
    private bool _intxLevel;

    public int Count(uint index) => _lines[index].Fds.Length;

    public VfioIrqInfoFlags Flags(uint index) => index switch
    {
        VfioPciIrq.Intx => VfioIrqInfoFlags.EventFd | VfioIrqInfoFlags.Maskable | VfioIrqInfoFlags.AutoMasked,
        VfioPciIrq.Msi => VfioIrqInfoFlags.EventFd | VfioIrqInfoFlags.Maskable | VfioIrqInfoFlags.NoResize,
        VfioPciIrq.MsiX => VfioIrqInfoFlags.EventFd | VfioIrqInfoFlags.Maskable,
        _ => VfioIrqInfoFlags.EventFd,
    };

    public void SetIntx(bool asserted)
    {
        _intxLevel = asserted;
        if (asserted) Deliver(VfioPciIrq.Intx, 0);
    }

    public void SendMessage(in MsiMessage message)
    {
        uint index = message.Kind == PciInterruptKind.Msi ? VfioPciIrq.Msi : VfioPciIrq.MsiX;
        if ((uint)message.Vector < (uint)_lines[index].Fds.Length) Deliver(index, message.Vector);
    }

    private void Deliver(uint index, int vector)
    {
        var line = _lines[index];
        if (line.Masked[vector]) { line.Pending[vector] = true; return; }
        var fd = line.Fds[vector];
        if (fd is null) return;
        if (index == VfioPciIrq.Intx) line.Masked[0] = true; // automasked until the client unmasks
        try
        {
            fd.Signal(1);
        }
        catch (Exception e) when (e is LinuxException or ObjectDisposedException)
        {
            log.Write(PciLogLevel.Warning, "vfio-user", $"irq {index}/{vector}: eventfd write failed: {e.Message}");
        }
    }

    /// <summary>Attaches (or replaces) the eventfd of <paramref name="vector"/>; takes ownership.</summary>
    public void Attach(uint index, int vector, EventFd fd)
    {
        var line = _lines[index];
        line.Fds[vector]?.Dispose();
        line.Fds[vector] = fd;
        line.Masked[vector] = false;
        line.Pending[vector] = false;
        if (index == VfioPciIrq.MsiX)
            device.MsiX!.ProgramEntry(vector, 0xFEE0_0000, (uint)vector, masked: false);
        if (index == VfioPciIrq.Intx && _intxLevel && device.Interrupts.IntxAsserted) Deliver(index, 0);
    }

    /// <summary>Detaches the eventfd of one vector (VFIO's fd -1): what the device signals there is dropped.</summary>
    public void Detach(uint index, int vector)
    {
        var line = _lines[index];
        line.Fds[vector]?.Dispose();
        line.Fds[vector] = null;
        line.Masked[vector] = false;
        line.Pending[vector] = false;
        // Unrouted, not masked: what the device signals while the vector has no eventfd is dropped (as with VFIO), not
        // latched in the PBA and replayed as a spurious interrupt when the client attaches an eventfd again.
        if (index == VfioPciIrq.MsiX) device.MsiX!.ProgramEntry(vector, 0, 0, masked: false);
    }

    /// <summary>Detaches every eventfd of <paramref name="index"/>.</summary>
    public void DetachAll(uint index)
    {
        for (int v = 0; v < _lines[index].Fds.Length; v++) Detach(index, v);
    }

    /// <summary>Signals <paramref name="vector"/>'s eventfd as if the device had (SET_IRQS ACTION_TRIGGER).</summary>
    public void Trigger(uint index, int vector) => Deliver(index, vector);

    public void Mask(uint index, int vector) => _lines[index].Masked[vector] = true;

    public void Unmask(uint index, int vector)
    {
        var line = _lines[index];
        line.Masked[vector] = false;
        if (index == VfioPciIrq.Intx)
        {
            if (_intxLevel && device.Interrupts.IntxAsserted) Deliver(index, 0);
            return;
        }
        if (line.Pending[vector])
        {
            line.Pending[vector] = false;
            Deliver(index, vector);
        }
    }

    /// <summary>After a device reset the client re-programs interrupts; the MSI-X entries it routed are re-applied.</summary>
    public void OnDeviceReset()
    {
        _intxLevel = false;
        var msix = _lines[VfioPciIrq.MsiX];
        for (int v = 0; v < msix.Fds.Length; v++)
            if (msix.Fds[v] is not null) device.MsiX!.ProgramEntry(v, 0xFEE0_0000, (uint)v, masked: false);
    }

    public void Dispose()
    {
        for (uint i = 0; i < _lines.Length; i++) DetachAllQuietly(_lines[i]);
    }

    private static void DetachAllQuietly(Line line)
    {
        for (int v = 0; v < line.Fds.Length; v++)
        {
            line.Fds[v]?.Dispose();
            line.Fds[v] = null;
        }
    }

    private sealed class Line(int count)
    {
        public readonly EventFd?[] Fds = new EventFd?[count];
        public readonly bool[] Masked = new bool[count];
        public readonly bool[] Pending = new bool[count];
    }
}
