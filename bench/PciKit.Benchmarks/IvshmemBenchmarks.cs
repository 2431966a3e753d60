using System.Runtime.Versioning;
using BenchmarkDotNet.Attributes;
using PciKit.Config;
using PciKit.Device;
using PciKit.Devices.Ivshmem;
using PciKit.Driver;
using PciKit.Host;
using PciKit.Linux.Memory;
using PciKit.UserClient;

namespace PciKit.Benchmarks;

/// <summary>
/// The ivshmem device's hot paths through the driver API over the in-process bus — a register read, a doorbell write
/// (ring through the in-process loopback link: a pending flag, and a thread-pool hand-off when it was clear) and a
/// peer interrupt (<see cref="IvshmemDevice.Notify"/> → MSI-X message → the driver's vector) — and the user-client
/// service's round trip (request → reply with the fd → close) and map (that plus mmap/munmap).
/// </summary>
[BenchmarkCategory("ivshmem")]
[SupportedOSPlatform("linux")]
public class IvshmemBenchmarks
{
    public const int N = 1000;
    private readonly string _dir = Directory.CreateTempSubdirectory("pkb").FullName;
    private PciHostBus _bus = null!;
    private IvshmemDevice _a = null!, _b = null!;
    private PciFunction _fa = null!, _fb = null!;
    private PciInterruptSet _vectors = null!;
    private MappedMemoryBlock _memory = null!;
    private PciMemoryMapping _bar2 = null!;
    private UserClientService _service = null!;
    private UserClientConnection _app = null!;

    [GlobalSetup]
    public void Setup()
    {
        _memory = MappedMemoryBlock.CreateShared("pk-bench-ivshmem", 1 << 20);
        var hub = new IvshmemLoopback(vectors: 1, _memory);
        _a = hub.JoinDevice();
        _b = hub.JoinDevice();
        _bus = new PciHostBus();
        _fa = _bus.GetFunction(_bus.Attach(_a));
        _fb = _bus.GetFunction(_bus.Attach(_b));
        _fa.Open();
        _fb.Open();
        _fa.SetCommand(PciCommand.MemorySpace);
        _fb.SetCommand(PciCommand.MemorySpace | PciCommand.BusMaster);
        _vectors = _fb.ConfigureInterrupts(PciInterruptKind.MsiX);
        _fa.MemoryWrite32(0, IvshmemDevice.Registers.Doorbell, 1 << 16);
        if (_vectors[0].Wait(TimeSpan.FromSeconds(10)) != 1) throw new InvalidOperationException("the doorbell did not reach the peer's MSI-X vector");
        _bar2 = _fa.MapBar(2);
        _service = UserClientService.Start(Path.Combine(_dir, "uc.sock"));
        _service.AddMemory(0, _bar2);
        _app = UserClientConnection.Connect(_service.SocketPath);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _app.Dispose();
        _service.Dispose();
        _fa.Dispose();
        _fb.Dispose();
        _bus.Dispose();
        _memory.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "ivshmem MemoryRead32 IntrMask")]
    public uint ReadIntrMask()
    {
        var f = _fa;
        uint acc = 0;
        for (int i = 0; i < N; i++) acc += f.MemoryRead32(0, IvshmemDevice.Registers.IntrMask);
        return acc;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "ivshmem MemoryWrite32 Doorbell (loopback ring)")]
    public long RingPeer()
    {
        var f = _fa;
        for (int i = 0; i < N; i++) f.MemoryWrite32(0, IvshmemDevice.Registers.Doorbell, 1 << 16);
        return _vectors[0].Take();
    }

    [Benchmark(OperationsPerInvoke = N, Description = "ivshmem Notify → MSI-X → InterruptVector")]
    public long PeerInterrupt()
    {
        var d = _b;
        for (int i = 0; i < N; i++) d.Notify(0);
        return _vectors[0].Take();
    }

    [Benchmark(Description = "user client RequestMemory (round trip + fd)")]
    public ulong RequestMemory()
    {
        using var grant = _app.RequestMemory(0);
        return grant.Length;
    }

    [Benchmark(Description = "user client MapMemory + Dispose (adds mmap/munmap)")]
    public ulong MapMemory()
    {
        using var mapping = _app.MapMemory(0);
        return mapping.Length;
    }
}
