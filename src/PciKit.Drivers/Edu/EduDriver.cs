using System.Diagnostics;
using PciKit.Config;
using PciKit.Device;
using PciKit.Driver;

namespace PciKit.Drivers.Edu;

/// <summary>
/// A driver for QEMU's edu device written only against <see cref="PciFunction"/>, so it runs unchanged over every
/// backend (in-process, vfio-user, VFIO). It is the example to copy: check the IDs, open a session, enable decoding
/// and Bus Master, use registers, DMA buffers and interrupts, close.
/// </summary>
public sealed class EduDriver : IDisposable
{
    private const int Bar = 0;
    private readonly PciFunction _function;
    private PciInterruptSet? _interrupts;

    private EduDriver(PciFunction function) => _function = function;

    /// <summary>The session the driver uses.</summary>
    public PciFunction Function => _function;

    /// <summary>
    /// Opens <paramref name="function"/> (if not open), checks that it is an edu device, enables memory decoding and
    /// Bus Master. Throws <see cref="PciDriverException"/> for another device.
    /// </summary>
    public static EduDriver Attach(PciFunction function)
    {
        ArgumentNullException.ThrowIfNull(function);
        if (!function.IsOpen) function.Open();
        ushort vendor = function.ConfigRead16(PciHeader.VendorId), device = function.ConfigRead16(PciHeader.DeviceId);
        if (vendor != 0x1234 || device != 0x11e8)
        {
            function.Close();
            throw new PciDriverException($"{function.Address} is {vendor:x4}:{device:x4}, not an edu device (1234:11e8).");
        }
        var bar = function.GetBarInfo(Bar);
        if (bar.Kind != PciBarKind.Memory32 || bar.Size < 0x100)
        {
            function.Close();
            throw new PciDriverException($"{function.Address}: BAR0 is {bar.Kind} of {bar.Size} bytes; edu needs a 32-bit memory BAR.");
        }
        function.SetCommand(PciCommand.MemorySpace | PciCommand.BusMaster);
        return new EduDriver(function);
    }

    /// <summary>The identification register's major and minor version.</summary>
    public (int Major, int Minor) Version
    {
        get
        {
            uint id = _function.MemoryRead32(Bar, 0x00);
            if ((id & 0xFF) != 0xED) throw new PciDriverException($"Identification register reads 0x{id:x}; the device is not responding as edu.");
            return ((int)(id >> 24), (int)((id >> 16) & 0xFF));
        }
    }

    /// <summary>Writes <paramref name="value"/> to the liveness register and returns what it reads back (the inverse on a live device).</summary>
    public uint CheckLiveness(uint value)
    {
        _function.MemoryWrite32(Bar, 0x04, value);
        return _function.MemoryRead32(Bar, 0x04);
    }

    /// <summary>True when the liveness register inverts a test pattern.</summary>
    public bool IsAlive() => CheckLiveness(0x1234_5678) == ~0x1234_5678u;

    /// <summary>Computes n! on the device by polling the "computing" status bit; returns the value and how many polls saw the bit set.</summary>
    public (uint Result, int BusyPolls) Factorial(uint n, TimeSpan timeout)
    {
        _function.MemoryWrite32(Bar, 0x20, 0); // no completion interrupt
        _function.MemoryWrite32(Bar, 0x08, n);
        var clock = Stopwatch.StartNew();
        int busy = 0;
        while ((_function.MemoryRead32(Bar, 0x20) & 0x01) != 0)
        {
            busy++;
            if (clock.Elapsed > timeout) throw new TimeoutException($"edu kept computing {n}! for more than {timeout}.");
            Thread.Yield();
        }
        return (_function.MemoryRead32(Bar, 0x08), busy);
    }

    /// <summary>
    /// Routes the device's interrupt through <paramref name="kind"/> (INTx or MSI) and returns the vector. The
    /// driver acknowledges the device's interrupt status after each wait (<see cref="WaitForInterruptAsync"/>).
    /// </summary>
    public InterruptVector EnableInterrupts(PciInterruptKind kind)
    {
        if (kind == PciInterruptKind.MsiX) throw new PciDriverException("edu has no MSI-X capability; use Intx or Msi.");
        if (_interrupts is not null) _function.DisableInterrupts(_interrupts.Kind);
        _interrupts = _function.ConfigureInterrupts(kind, 1);
        return _interrupts[0];
    }

    /// <summary>Waits for the device's interrupt, reads the interrupt status, acknowledges it and returns the status.</summary>
    public async Task<uint> WaitForInterruptAsync(CancellationToken cancellationToken = default)
    {
        var vector = _interrupts?[0] ?? throw new PciDriverException("Call EnableInterrupts first.");
        while (true)
        {
            uint status = _function.MemoryRead32(Bar, 0x24);
            if (status != 0)
            {
                _function.MemoryWrite32(Bar, 0x64, status);
                vector.Take();
                return status;
            }
            await vector.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Computes n! with the completion interrupt instead of polling.</summary>
    public async Task<uint> FactorialWithInterruptAsync(uint n, CancellationToken cancellationToken = default)
    {
        _function.MemoryWrite32(Bar, 0x20, 0x80);
        _function.MemoryWrite32(Bar, 0x08, n);
        uint status = await WaitForInterruptAsync(cancellationToken).ConfigureAwait(false);
        if ((status & 0x1) == 0) throw new PciDriverException($"Expected the factorial interrupt (0x1), got status 0x{status:x}.");
        return _function.MemoryRead32(Bar, 0x08);
    }

    /// <summary>Raises an interrupt with <paramref name="value"/> through the raise register.</summary>
    public void RaiseInterrupt(uint value) => _function.MemoryWrite32(Bar, 0x60, value);

    /// <summary>Reads the interrupt status register.</summary>
    public uint InterruptStatus => _function.MemoryRead32(Bar, 0x24);

    /// <summary>Acknowledges (clears) <paramref name="value"/> in the interrupt status.</summary>
    public void Acknowledge(uint value) => _function.MemoryWrite32(Bar, 0x64, value);

    /// <summary>
    /// Starts a DMA between the bus address <paramref name="busAddress"/> and the device buffer offset
    /// <paramref name="bufferOffset"/> (0–4095) and polls until it finishes. With <paramref name="interrupt"/> the
    /// device also raises 0x100, which the caller waits for.
    /// </summary>
    public void Dma(bool toDevice, ulong busAddress, uint bufferOffset, uint count, bool interrupt, TimeSpan timeout)
    {
        const ulong bufferStart = 0x40000;
        _function.MemoryWrite64(Bar, 0x80, toDevice ? busAddress : bufferStart + bufferOffset);
        _function.MemoryWrite64(Bar, 0x88, toDevice ? bufferStart + bufferOffset : busAddress);
        _function.MemoryWrite64(Bar, 0x90, count);
        _function.MemoryWrite64(Bar, 0x98, 0x1 | (toDevice ? 0UL : 0x2) | (interrupt ? 0x4UL : 0));
        var clock = Stopwatch.StartNew();
        while ((_function.MemoryRead64(Bar, 0x98) & 1) != 0)
        {
            if (clock.Elapsed > timeout) throw new TimeoutException($"edu DMA of {count} bytes did not finish within {timeout}.");
            Thread.Yield();
        }
    }

    /// <summary>
    /// DMA round trip: copies <paramref name="data"/> into a DMA buffer, moves it into the device, then back out into
    /// a second buffer, and returns what arrived. Uses a 28-bit DMA address, edu's default mask.
    /// </summary>
    public byte[] DmaRoundTrip(ReadOnlySpan<byte> data, TimeSpan timeout)
    {
        if (data.Length is 0 or > 4096) throw new ArgumentOutOfRangeException(nameof(data), "edu's DMA buffer holds 1–4096 bytes.");
        using var source = _function.AllocateDmaBuffer((ulong)data.Length, addressBits: 28);
        using var sink = _function.AllocateDmaBuffer((ulong)data.Length, addressBits: 28);
        data.CopyTo(source.Span);
        Dma(toDevice: true, source.DeviceAddress, 0, (uint)data.Length, interrupt: false, timeout);
        Dma(toDevice: false, sink.DeviceAddress, 0, (uint)data.Length, interrupt: false, timeout);
        return sink.Span.ToArray();
    }

    /// <summary>Closes the session.</summary>
    public void Dispose() => _function.Close();
}
