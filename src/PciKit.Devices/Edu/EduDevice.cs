using PciKit.Capabilities;
using PciKit.Config;
using PciKit.Device;

namespace PciKit.Devices.Edu;

/// <summary>
/// QEMU's educational device, implemented from its public specification (<c>docs/specs/edu.rst</c>): 1234:11e8,
/// a 1 MiB MMIO BAR0 with identification, liveness, factorial (with a "computing" status bit and an optional
/// completion interrupt), interrupt raise/acknowledge, and a DMA engine with a 4 KiB buffer at 0x40000; INTx and MSI.
/// </summary>
/// <remarks>
/// Registers below 0x80 take 4-byte accesses only; from 0x80 on, 4 or 8 bytes. Reads of unimplemented registers
/// return all-ones. DMA addresses are clamped to <see cref="DmaMask"/> (28 bits by default, as the specification
/// says). Unlike QEMU's model, a DMA that leaves the 4 KiB buffer is refused and logged rather than aborting, and a
/// full 4096-byte transfer is accepted.
/// </remarks>
public sealed class EduDevice : PciDevice
{
    /// <summary>Vendor ID (QEMU).</summary>
    public const ushort VendorId = 0x1234;
    /// <summary>Device ID.</summary>
    public const ushort DeviceId = 0x11e8;
    /// <summary>Size of BAR0.</summary>
    public const ulong MmioSize = 1 << 20;
    /// <summary>Offset of the DMA buffer in the device's address space.</summary>
    public const ulong DmaBufferStart = 0x40000;
    /// <summary>Size of the DMA buffer.</summary>
    public const int DmaBufferSize = 4096;

    /// <summary>Register offsets in BAR0.</summary>
    public static class Registers
    {
        /// <summary>Identification (RO): 0xRRrr00ed.</summary>
        public const int Identification = 0x00;
        /// <summary>Liveness check (RW): reads the inverse of what was written.</summary>
        public const int Liveness = 0x04;
        /// <summary>Factorial (RW).</summary>
        public const int Factorial = 0x08;
        /// <summary>Status (RW): 0x01 computing (RO), 0x80 interrupt after factorial.</summary>
        public const int Status = 0x20;
        /// <summary>Interrupt status (RO).</summary>
        public const int InterruptStatus = 0x24;
        /// <summary>Interrupt raise (WO).</summary>
        public const int InterruptRaise = 0x60;
        /// <summary>Interrupt acknowledge (WO).</summary>
        public const int InterruptAcknowledge = 0x64;
        /// <summary>DMA source address (RW).</summary>
        public const int DmaSource = 0x80;
        /// <summary>DMA destination address (RW).</summary>
        public const int DmaDestination = 0x88;
        /// <summary>DMA transfer count (RW).</summary>
        public const int DmaCount = 0x90;
        /// <summary>DMA command (RW).</summary>
        public const int DmaCommand = 0x98;
    }

    /// <summary>Status bit: computing factorial.</summary>
    public const uint StatusComputing = 0x01;
    /// <summary>Status bit: raise an interrupt when the factorial is done.</summary>
    public const uint StatusIrqOnFactorial = 0x80;
    /// <summary>Interrupt status value raised by a finished factorial.</summary>
    public const uint FactorialIrq = 0x001;
    /// <summary>Interrupt status value raised by a finished DMA.</summary>
    public const uint DmaIrq = 0x100;
    /// <summary>DMA command bit: start.</summary>
    public const ulong DmaStart = 0x1;
    /// <summary>DMA command bit: direction EDU → RAM (clear: RAM → EDU).</summary>
    public const ulong DmaToRam = 0x2;
    /// <summary>DMA command bit: raise interrupt 0x100 when done.</summary>
    public const ulong DmaRaiseIrq = 0x4;

    private readonly byte[] _buffer = new byte[DmaBufferSize];
    private uint _liveness, _factorial, _status, _irqStatus;
    private ulong _dmaSource, _dmaDestination, _dmaCount, _dmaCommand;

    /// <summary>Creates the device.</summary>
    /// <param name="dmaMask">Address bits the DMA engine drives (default 28, i.e. 256 MiB).</param>
    /// <param name="dmaDelay">Time the DMA engine takes before it moves data (default: as soon as a worker runs).</param>
    public EduDevice(ulong dmaMask = (1UL << 28) - 1, TimeSpan dmaDelay = default)
        : base(new PciIdentity
        {
            VendorId = VendorId,
            DeviceId = DeviceId,
            Revision = 0x10,
            ClassCode = 0x00FF00,
            SubsystemVendorId = 0x1AF4,
            SubsystemId = 0x1100,
            InterruptPin = PciInterruptPin.IntA,
        })
    {
        DmaMask = dmaMask;
        DmaDelay = dmaDelay;
        DefineBar(0, PciBar.Memory32(MmioSize)
            .Add(0, new RegisterRegion("edu-regs", 0x80, (o, s) => Read(o, s), (o, s, v) => Write(o, s, v), AccessSizes.Dword))
            .Add(0x80, new RegisterRegion("edu-dma", MmioSize - 0x80, (o, s) => Read(o + 0x80, s), (o, s, v) => Write(o + 0x80, s, v), AccessSizes.DwordOrQword)));
        AddCapability(new MsiCapability(vectors: 1, is64Bit: true, perVectorMask: false));
        Realize();
    }

    /// <inheritdoc />
    public override string Name => "edu";

    /// <summary>DMA address mask.</summary>
    public ulong DmaMask { get; }

    /// <summary>Delay of the DMA engine.</summary>
    public TimeSpan DmaDelay { get; }

    private ulong Read(ulong offset, int size)
    {
        switch (offset)
        {
            case Registers.Identification: return 0x010000ED;
            case Registers.Liveness: return _liveness;
            case Registers.Factorial: return _factorial;
            case Registers.Status: return _status;
            case Registers.InterruptStatus: return _irqStatus;
            case Registers.DmaSource: return _dmaSource;
            case Registers.DmaDestination: return _dmaDestination;
            case Registers.DmaCount: return _dmaCount;
            case Registers.DmaCommand: return _dmaCommand;
            default: return ulong.MaxValue;
        }
    }

    private void Write(ulong offset, int size, ulong value)
    {
        switch (offset)
        {
            case Registers.Liveness: _liveness = ~(uint)value; break;
            case Registers.Factorial:
                if ((_status & StatusComputing) != 0) break;
                _factorial = (uint)value;
                _status |= StatusComputing;
                RunLater(TimeSpan.Zero, ComputeFactorial);
                break;
            case Registers.Status:
                _status = (_status & ~StatusIrqOnFactorial) | ((uint)value & StatusIrqOnFactorial);
                break;
            case Registers.InterruptRaise: RaiseIrq((uint)value); break;
            case Registers.InterruptAcknowledge: LowerIrq((uint)value); break;
            case Registers.DmaSource: if (!DmaRunning) _dmaSource = value; break;
            case Registers.DmaDestination: if (!DmaRunning) _dmaDestination = value; break;
            case Registers.DmaCount: if (!DmaRunning) _dmaCount = value; break;
            case Registers.DmaCommand:
                if ((value & DmaStart) == 0 || DmaRunning) break;
                _dmaCommand = value;
                RunLater(DmaDelay, RunDma);
                break;
        }
    }

    private bool DmaRunning => (_dmaCommand & DmaStart) != 0;

    private void ComputeFactorial()
    {
        uint n = _factorial, result = 1;
        while (n > 0) result *= n--;
        _factorial = result;
        _status &= ~StatusComputing;
        if ((_status & StatusIrqOnFactorial) != 0) RaiseIrq(FactorialIrq);
    }

    private void RunDma()
    {
        bool toRam = (_dmaCommand & DmaToRam) != 0;
        ulong deviceAddress = toRam ? _dmaSource : _dmaDestination;
        ulong busAddress = Clamp(toRam ? _dmaDestination : _dmaSource);
        ulong count = _dmaCount;
        if (deviceAddress < DmaBufferStart || count > DmaBufferSize || deviceAddress - DmaBufferStart > (ulong)DmaBufferSize - count)
        {
            LogGuestError($"DMA of 0x{count:x} bytes at device offset 0x{deviceAddress:x} leaves the buffer [0x{DmaBufferStart:x}, +0x{DmaBufferSize:x}); refused");
        }
        else
        {
            var window = _buffer.AsSpan((int)(deviceAddress - DmaBufferStart), (int)count);
            _ = toRam ? Dma.Write(busAddress, window) : Dma.Read(busAddress, window);
        }
        _dmaCommand &= ~DmaStart;
        if ((_dmaCommand & DmaRaiseIrq) != 0) RaiseIrq(DmaIrq);
    }

    private ulong Clamp(ulong address)
    {
        ulong clamped = address & DmaMask;
        if (clamped != address) LogGuestError($"DMA address 0x{address:x} clamped to 0x{clamped:x} by the 0x{DmaMask:x} DMA mask");
        return clamped;
    }

    private void RaiseIrq(uint value)
    {
        _irqStatus |= value;
        if (_irqStatus == 0) return;
        if (Interrupts.MsiEnabled) Interrupts.SignalMsi(0);
        else Interrupts.SetIntx(true);
    }

    private void LowerIrq(uint value)
    {
        _irqStatus &= ~value;
        if (_irqStatus == 0 && !Interrupts.MsiEnabled) Interrupts.SetIntx(false);
    }

    /// <inheritdoc />
    protected override void OnReset(PciResetKind kind)
    {
        Array.Clear(_buffer);
        _liveness = _factorial = _status = _irqStatus = 0;
        _dmaSource = _dmaDestination = _dmaCount = _dmaCommand = 0;
    }
}
