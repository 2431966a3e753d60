using BenchmarkDotNet.Attributes;
using PciKit.Devices.Edu;
using PciKit.Devices.Sample;
using PciKit.Driver;

namespace PciKit.Benchmarks;

/// <summary>
/// 4-byte BAR accesses to register handlers: through the driver API over the in-process bus (argument checks,
/// backend interface call, device lock, BAR decode, region lookup, handler delegate) and through
/// <c>PciDevice.BarRead/BarWrite</c> alone (device dispatch without the driver layer); plus a read from a mapped
/// RAM BAR (no device involved: a bounds-checked load) for comparison. <see cref="N"/> accesses per invocation.
/// </summary>
[BenchmarkCategory("bar")]
public class BarAccessBenchmarks
{
    public const int N = 1000;
    private const ulong EduLiveness = EduDevice.Registers.Liveness; // 0x04: RW, reads ~written
    private const ulong SampleScratch = 0x04;                       // BAR0 0x04: RW scratch

    private Fixture _fx = null!;
    private PciFunction _edu = null!;
    private PciFunction _sample = null!;
    private EduDevice _eduDevice = null!;
    private PciMemoryMapping _ram = null!;

    [GlobalSetup]
    public void Setup()
    {
        _fx = new Fixture();
        _edu = _fx.EduFunction;
        _sample = _fx.SampleFunction;
        _eduDevice = _fx.Edu;
        _ram = _sample.MapBar(2);
        // Sanity: the handlers are really reached.
        _edu.MemoryWrite32(0, EduLiveness, 0x12345678);
        if (_edu.MemoryRead32(0, EduLiveness) != ~0x12345678u) throw new InvalidOperationException("edu liveness register not reached");
        _sample.MemoryWrite32(0, SampleScratch, 0xCAFEF00D);
        if (_sample.MemoryRead32(0, SampleScratch) != 0xCAFEF00D) throw new InvalidOperationException("sample scratch register not reached");
        _ram.Write<uint>(0x100, 0xA5A5A5A5);
        if (_sample.MemoryRead32(2, 0x100) != 0xA5A5A5A5) throw new InvalidOperationException("sample RAM not reached");
    }

    [GlobalCleanup]
    public void Cleanup() => _fx.Dispose();

    [Benchmark(OperationsPerInvoke = N, Description = "PciFunction.MemoryRead32 edu 0x04")]
    public uint EduRead()
    {
        var f = _edu;
        uint acc = 0;
        for (int i = 0; i < N; i++) acc += f.MemoryRead32(0, EduLiveness);
        return acc;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "PciFunction.MemoryWrite32 edu 0x04")]
    public void EduWrite()
    {
        var f = _edu;
        for (int i = 0; i < N; i++) f.MemoryWrite32(0, EduLiveness, (uint)i);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "PciFunction.MemoryRead32 sample 0x04")]
    public uint SampleRead()
    {
        var f = _sample;
        uint acc = 0;
        for (int i = 0; i < N; i++) acc += f.MemoryRead32(0, SampleScratch);
        return acc;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "PciFunction.MemoryWrite32 sample 0x04")]
    public void SampleWrite()
    {
        var f = _sample;
        for (int i = 0; i < N; i++) f.MemoryWrite32(0, SampleScratch, (uint)i);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "PciDevice.BarRead edu 0x04 [device only]")]
    public ulong DeviceRead()
    {
        var d = _eduDevice;
        ulong acc = 0;
        for (int i = 0; i < N; i++) acc += d.BarRead(0, EduLiveness, 4);
        return acc;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "PciDevice.BarWrite edu 0x04 [device only]")]
    public void DeviceWrite()
    {
        var d = _eduDevice;
        for (int i = 0; i < N; i++) d.BarWrite(0, EduLiveness, 4, (ulong)i);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "MapBar(2).Read<uint> sample RAM [mapped]")]
    public uint MappedRamRead()
    {
        var m = _ram;
        uint acc = 0;
        for (int i = 0; i < N; i++) acc += m.Read<uint>(0x100);
        return acc;
    }
}
