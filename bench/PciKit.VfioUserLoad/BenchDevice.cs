using PciKit.Config;
using PciKit.Device;
using PciKit.Memory;

namespace PciKit.VfioUserLoad;

/// <summary>
/// The benchmark device: BAR0 (memory, 256 bytes) holds
/// <list type="bullet">
/// <item>0x00 scratch (4 bytes, RW): the latency register; its handlers only load/store a field;</item>
/// <item>0x08 DMA address (8), 0x10 chunk bytes (4, ≤ 1 MiB), 0x14 chunk count (4);</item>
/// <item>0x18 DMA go (4, WO): 1 = the device reads count × chunk bytes from memory, 2 = it writes them to memory
///   (chunk i at address + i × chunk, from its 1 MiB pattern buffer / into its 1 MiB read buffer at (i × chunk) mod 1 MiB); 0x1C status of the last
///   DMA (0 ok, else <see cref="DmaStatus"/>);</item>
/// <item>0x38 DMA window (4, RW): when non-zero, chunk i goes to address + (i × chunk) mod window, so a run can keep
///   its memory cache-hot (0: no wrap, the run walks count × chunk bytes);</item>
/// <item>0x20 allocation probe (WO): 1 marks the start, 2 the end; 0x28 (8, RO) bytes the process allocated between the
///   marks (<c>GC.GetTotalAllocatedBytes(true)</c>), 0x30 (8, RO) bytes the serving thread allocated.</item>
/// </list>
/// </summary>
internal sealed class BenchDevice : PciDevice
{
    public const int BufferSize = 1 << 20;
    public const ulong RegScratch = 0x00, RegDmaAddress = 0x08, RegDmaChunk = 0x10, RegDmaCount = 0x14, RegDmaGo = 0x18,
        RegDmaStatus = 0x1C, RegAllocProbe = 0x20, RegAllocProcess = 0x28, RegAllocThread = 0x30, RegDmaWindow = 0x38;

    private readonly NativeMemoryBlock _buffer = new(BufferSize);      // source of device writes (a fixed pattern)
    private readonly NativeMemoryBlock _readBuffer = new(BufferSize);  // destination of device reads
    private uint _scratch;
    private ulong _dmaAddress;
    private uint _window;
    private uint _chunk = 4096, _count = 1, _status;
    private long _processMark, _threadMark, _processDelta, _threadDelta;
    // Probe validation: VFIO_BENCH_ALLOCATE_PER_ACCESS=N makes every scratch access allocate an N-byte array, so the
    // allocation probe can be seen to report it (an N-byte byte[] costs N + 24 bytes on x64).
    private static readonly int s_allocatePerAccess = int.TryParse(Environment.GetEnvironmentVariable("VFIO_BENCH_ALLOCATE_PER_ACCESS"), out int n) ? n : 0;
    public static object? Sink;

    public BenchDevice()
        : base(new PciIdentity { VendorId = 0x1b36, DeviceId = 0x00fd, ClassCode = 0xff0000, InterruptPin = PciInterruptPin.IntA })
    {
        DefineBar(0, PciBar.Memory32(0x100).Add(0, new RegisterRegion("bench-regs", 0x40, Read, Write, AccessSizes.Dword | AccessSizes.Qword)));
        var span = _buffer.GetSpan(0, BufferSize);
        for (int i = 0; i < span.Length; i++) span[i] = (byte)(i * 7 + 3);
        Realize();
    }

    public override string Name => "vfio-bench";

    private ulong Read(ulong offset, int size)
    {
        if (s_allocatePerAccess > 0 && offset == RegScratch) Sink = new byte[s_allocatePerAccess];
        return ReadRegister(offset);
    }

    private ulong ReadRegister(ulong offset) => offset switch
    {
        RegScratch => _scratch,
        RegDmaAddress => _dmaAddress,
        RegDmaChunk => _chunk,
        RegDmaCount => _count,
        RegDmaStatus => _status,
        RegDmaWindow => _window,
        RegAllocProcess => (ulong)_processDelta,
        RegAllocThread => (ulong)_threadDelta,
        _ => 0,
    };

    private void Write(ulong offset, int size, ulong value)
    {
        switch (offset)
        {
            case RegScratch: _scratch = (uint)value; break;
            case RegDmaAddress: _dmaAddress = size == 8 ? value : (_dmaAddress & ~0xFFFF_FFFFUL) | value; break;
            case RegDmaAddress + 4: _dmaAddress = (_dmaAddress & 0xFFFF_FFFFUL) | (value << 32); break;
            case RegDmaChunk: _chunk = (uint)Math.Clamp(value, 1, BufferSize); break;
            case RegDmaCount: _count = (uint)value; break;
            case RegDmaWindow: _window = (uint)value; break;
            case RegDmaGo: _status = (uint)RunDma((int)value); break;
            case RegAllocProbe:
                if (value == 1)
                {
                    _processMark = GC.GetTotalAllocatedBytes(true);
                    _threadMark = GC.GetAllocatedBytesForCurrentThread();
                }
                else
                {
                    _threadDelta = GC.GetAllocatedBytesForCurrentThread() - _threadMark;
                    _processDelta = GC.GetTotalAllocatedBytes(true) - _processMark;
                }
                break;
        }
    }

    /// <summary>Runs on the serving thread with the device lock held, as a real device's doorbell handler would.</summary>
    private DmaStatus RunDma(int direction)
    {
        int chunk = (int)_chunk;
        for (uint i = 0; i < _count; i++)
        {
            ulong offset = (ulong)i * (ulong)chunk;
            ulong at = _dmaAddress + (_window == 0 ? offset : offset % _window);
            int from = (int)((ulong)i * (ulong)chunk % BufferSize);
            if (from + chunk > BufferSize) from = 0;
            var status = direction == 1 ? Dma.Read(at, _readBuffer.GetSpan((ulong)from, chunk)) : Dma.Write(at, _buffer.GetSpan((ulong)from, chunk));
            if (status != DmaStatus.Ok) return status;
        }
        return DmaStatus.Ok;
    }

    protected override void OnReset(PciResetKind kind) => _scratch = 0;
}
