using System.Diagnostics;
using PciKit.Device;

namespace PciKit.Devices.Virtio;

public abstract partial class VirtioPciDevice
{
    private byte _isr;

    private const byte IsrQueue = 1, IsrConfig = 2;

    /// <summary>The ISR status bits pending (bit 0 queue, bit 1 configuration); read by the driver, which clears them.</summary>
    public byte IsrStatus => _isr;

    private ulong ReadNotify(ulong offset, int size) => 0;

    private void WriteNotify(ulong offset, int size, ulong value)
    {
        ulong index = offset / NotifyMultiplier;
        if (offset % NotifyMultiplier != 0 || index >= (ulong)_queues.Length)
        {
            LogGuestError($"notification write at 0x{offset:x} names no queue");
            return;
        }
        var q = _queues[index];
        if ((_status & VirtioStatus.DriverOk) == 0 || (_status & VirtioStatus.DeviceNeedsReset) != 0) return; // served at DRIVER_OK, or not until a reset
        if (!q.Enabled)
        {
            LogGuestError($"queue {index} notified while it is not enabled");
            return;
        }
        ServiceQueue(q);
    }

    /// <summary>
    /// Consumes every available buffer of <paramref name="q"/>, then notifies the driver if it asked to hear about
    /// used buffers. With EVENT_IDX the driver is told, through avail_event, to notify again at its next buffer, and
    /// the ring is checked once more after that, so no buffer is left behind.
    /// </summary>
    private void ServiceQueue(Virtqueue q)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            ServiceQueueCore(q);
        }
        finally
        {
            _serviceTicks += Stopwatch.GetTimestamp() - start;
        }
    }

    private void ServiceQueueCore(Virtqueue q)
    {
        string? fault;
        do
        {
            while (true)
            {
                if ((_status & VirtioStatus.DeviceNeedsReset) != 0) return;
                var popped = q.TryPop(_chain, out fault);
                if (popped == Virtqueue.PopResult.Empty) break;
                if (popped == Virtqueue.PopResult.Fault)
                {
                    SetNeedsReset($"queue {q.Index}: {fault}");
                    return;
                }
                if (!HandleRequest(q, _chain, out uint written))
                {
                    if ((_status & VirtioStatus.DeviceNeedsReset) == 0) SetNeedsReset($"queue {q.Index}: request {_chain.Head} could not be served");
                    return;
                }
                if (q.PushUsed(_chain.Head, written) is { } bad)
                {
                    SetNeedsReset($"queue {q.Index}: {bad}");
                    return;
                }
                _completed++;
            }
        }
        while (q.ArmAndRecheck(out fault));
        if (fault is not null)
        {
            SetNeedsReset($"queue {q.Index}: {fault}");
            return;
        }
        if (q.ShouldNotify(out fault)) Signal(q.MsixVector, IsrQueue);
        else if (fault is not null) SetNeedsReset($"queue {q.Index}: {fault}");
    }

    private void SignalConfigChange() => Signal(_configVector, IsrConfig);

    private void Signal(ushort vector, byte isrBit)
    {
        _isr |= isrBit;
        if (Interrupts.MsiXEnabled)
        {
            if (vector != NoVector) Interrupts.SignalMsiX(vector);
        }
        else
        {
            Interrupts.SetIntx(true);
        }
    }

    private ulong ReadIsr(ulong offset, int size)
    {
        if (offset != 0) return 0;
        byte value = _isr;
        ClearIsr();
        return value;
    }

    private void WriteIsr(ulong offset, int size, ulong value) => LogGuestError("write to the read-only ISR status");

    private void ClearIsr()
    {
        _isr = 0;
        if (Interrupts.IntxLevel) Interrupts.SetIntx(false);
    }

    private ulong ReadDeviceConfig(ulong offset, int size)
    {
        ulong v = 0;
        for (int i = 0; i < size && (int)offset + i < _deviceConfig.Length; i++) v |= (ulong)_deviceConfig[(int)offset + i] << (8 * i);
        return v;
    }

    private void WriteDeviceConfig(ulong offset, int size, ulong value) => OnDeviceConfigWrite((int)offset, size, value);

    /// <summary>A read through the PCI configuration access window (<see cref="VirtioPciCfgCapability"/>).</summary>
    internal ulong WindowRead(int bar, uint offset, int length)
    {
        if (!WindowTarget(bar, offset, length, out var region, out ulong rel)) return 0;
        return region.Read(rel, length);
    }

    /// <summary>A write through the PCI configuration access window.</summary>
    internal void WindowWrite(int bar, uint offset, int length, uint value)
    {
        if (!WindowTarget(bar, offset, length, out var region, out ulong rel)) return;
        region.Write(rel, length, length == 4 ? value : value & ((1u << (8 * length)) - 1));
    }

    private bool WindowTarget(int bar, uint offset, int length, out RegisterRegion region, out ulong rel)
    {
        region = null!;
        rel = 0;
        if (bar == StructureBar)
        {
            foreach (var (start, r) in _structures)
            {
                if (offset < start || offset - start >= r.Size) continue;
                rel = offset - start;
                if (rel + (ulong)length > r.Size || !r.Accepts(rel, length)) break;
                region = r;
                return true;
            }
        }
        LogGuestError($"PCI configuration access window names BAR {bar} offset 0x{offset:x} ({length} bytes), which holds no virtio structure");
        return false;
    }
}
