using BenchmarkDotNet.Attributes;
using PciKit.Config;
using PciKit.Devices.Edu;
using PciKit.Driver;

namespace PciKit.Benchmarks;

/// <summary>
/// 4-byte configuration accesses: the raw <see cref="ConfigSpace"/> (masks + observer scan, no lock), the device
/// entry point (adds the device lock), and the driver API over the in-process bus (adds argument checks and the
/// backend interface call). Every benchmark runs <see cref="N"/> accesses per invocation; results are per access.
/// </summary>
/// <remarks>
/// The device is the edu device (MSI capability, so its configuration space has two write observers: the Command
/// register and the MSI capability). 0x3C is Interrupt Line/Pin/Min_Gnt/Max_Lat: writable Interrupt Line, no
/// observer, no side effect. The Command write (0x04) re-writes the current value, so decoding stays on, but it
/// runs the device's Command observer (interrupt re-evaluation) every time.
/// </remarks>
[BenchmarkCategory("config")]
public class ConfigAccessBenchmarks
{
    public const int N = 1000;
    private const int InterruptLine = PciHeader.InterruptLine;   // 0x3C, dword-aligned
    private const int Command = PciHeader.Command;               // 0x04

    private Fixture _fx = null!;
    private ConfigSpace _config = null!;
    private EduDevice _device = null!;
    private PciFunction _function = null!;
    private uint _command;

    [GlobalSetup]
    public void Setup()
    {
        _fx = new Fixture();
        _device = _fx.Edu;
        _config = _device.Config;
        _function = _fx.EduFunction;
        _command = _function.ConfigRead16(Command); // Status (upper half) written as 0: its W1C bits are untouched
    }

    [GlobalCleanup]
    public void Cleanup() => _fx.Dispose();

    [Benchmark(OperationsPerInvoke = N, Description = "ConfigSpace.Read(0x3C, 4) [raw]")]
    public uint RawRead()
    {
        var cfg = _config;
        uint acc = 0;
        for (int i = 0; i < N; i++) acc += cfg.Read(InterruptLine, 4);
        return acc;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "ConfigSpace.Write(0x3C, 4) [raw]")]
    public bool RawWrite()
    {
        var cfg = _config;
        bool ok = true;
        for (int i = 0; i < N; i++) ok &= cfg.Write(InterruptLine, 4, (uint)(i & 0xFF));
        return ok;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "PciDevice.ConfigRead(0x3C, 4)")]
    public uint DeviceRead()
    {
        var d = _device;
        uint acc = 0;
        for (int i = 0; i < N; i++) acc += d.ConfigRead(InterruptLine, 4);
        return acc;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "PciDevice.ConfigWrite(0x3C, 4)")]
    public void DeviceWrite()
    {
        var d = _device;
        for (int i = 0; i < N; i++) d.ConfigWrite(InterruptLine, 4, (uint)(i & 0xFF));
    }

    [Benchmark(OperationsPerInvoke = N, Description = "PciFunction.ConfigRead32(0x3C)")]
    public uint FunctionRead()
    {
        var f = _function;
        uint acc = 0;
        for (int i = 0; i < N; i++) acc += f.ConfigRead32(InterruptLine);
        return acc;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "PciFunction.ConfigWrite32(0x3C)")]
    public void FunctionWrite()
    {
        var f = _function;
        for (int i = 0; i < N; i++) f.ConfigWrite32(InterruptLine, (uint)(i & 0xFF));
    }

    [Benchmark(OperationsPerInvoke = N, Description = "PciFunction.ConfigWrite32(Command) [observer]")]
    public void FunctionWriteCommand()
    {
        var f = _function;
        uint v = _command;
        for (int i = 0; i < N; i++) f.ConfigWrite32(Command, v);
    }
}
