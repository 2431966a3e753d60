using System.Globalization;
using PciKit.Ivshmem;
using PciKit.IvshmemBench;

// Usage: PciKit.IvshmemBench [round-trips per run (20000)] [runs (5)] [shm MiB for bandwidth (64)]
int count = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20_000;
int runs = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5;
ulong mib = args.Length > 2 ? ulong.Parse(args[2], CultureInfo.InvariantCulture) : 64;

string dir = Directory.CreateTempSubdirectory("ivsbench").FullName;
using var server = IvshmemServer.Start(new IvshmemServerOptions
{
    SocketPath = Path.Combine(dir, "ivshmem.sock"),
    SharedMemoryName = "pcikit-ivshmem-bench-" + Environment.ProcessId,
    Size = mib << 20,
    Vectors = 1,
});
using var a = IvshmemPeer.Connect(server.SocketPath, new IvshmemPeerOptions { Vectors = 1 });
using var b = IvshmemPeer.Connect(server.SocketPath, new IvshmemPeerOptions { Vectors = 1 });
SpinWait.SpinUntil(() => a.Peers.Count == 1, TimeSpan.FromSeconds(10));

Console.WriteLine($"# ivshmem doorbell round trip vs eventfd floor; {runs} interleaved runs x {count} round trips; {Environment.ProcessorCount} CPUs; {DateTime.UtcNow:u}");
foreach (var (placement, ci, cr) in new[] { ("same CPU (both threads on CPU 0)", 0, 0), ("split (initiator CPU 0, responder CPU 1)", 0, 1), ("unpinned", -1, -1) })
{
    var floor = new List<long>();
    var floorNb = new List<long>();
    var ivs = new List<long>();
    double floorSeconds = 0, floorNbSeconds = 0, ivsSeconds = 0;
    // Warm-up (JIT, epoll thread, page faults), then interleave so that load changes hit all three alike.
    RoundTrip.RawEventFd(2000, ci, cr, nonBlocking: false);
    RoundTrip.RawEventFd(2000, ci, cr, nonBlocking: true);
    RoundTrip.Ivshmem(a, b, 2000, ci, cr);
    for (int r = 0; r < runs; r++)
    {
        floorSeconds += Timed(() => floor.AddRange(RoundTrip.RawEventFd(count, ci, cr, nonBlocking: false)));
        floorNbSeconds += Timed(() => floorNb.AddRange(RoundTrip.RawEventFd(count, ci, cr, nonBlocking: true)));
        ivsSeconds += Timed(() => ivs.AddRange(RoundTrip.Ivshmem(a, b, count, ci, cr)));
    }

    var f = Latency.Of(floor, floorSeconds);
    var fnb = Latency.Of(floorNb, floorNbSeconds);
    var i = Latency.Of(ivs, ivsSeconds);
    Console.WriteLine($"## {placement}");
    Console.WriteLine($"raw eventfd, blocking read (floor)      {f}");
    Console.WriteLine($"raw eventfd, O_NONBLOCK poll+read       {fnb}");
    Console.WriteLine($"IvshmemPeer Ring + Vector.Wait          {i}");
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ratio ivshmem/floor: p50 {i.P50Us / f.P50Us:F2}x  p99 {i.P99Us / f.P99Us:F2}x; initiator allocated {RoundTrip.AllocatedPerRoundTrip:F2} B per ivshmem round trip"));
}

Console.WriteLine($"# shared-memory copy bandwidth, {mib} MiB per copy (GB/s = 1e9 B/s), median of 9 rounds");
var bw = Bandwidth.Measure(a, 9);
foreach (var group in bw.GroupBy(r => r.Name))
{
    var sorted = group.Select(r => r.GBps).Order().ToArray();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{group.Key,-36} median {sorted[sorted.Length / 2],6:F2} GB/s  best {sorted[^1],6:F2} GB/s"));
}

double Median(string name) => bw.Where(r => r.Name == name).Select(r => r.GBps).Order().ElementAt(4);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"into shm / memcpy: {Median("MemoryBlock.CopyFrom (into shm)") / Median("memcpy managed → private native"):P0} (MemoryBlock), {Median("MappedView.CopyFrom (into shm)") / Median("memcpy managed → private native"):P0} (MappedView); " +
    $"out of shm / memcpy: {Median("MemoryBlock.CopyTo (out of shm)") / Median("memcpy private native → managed"):P0} (MemoryBlock), {Median("MappedView.CopyTo (out of shm)") / Median("memcpy private native → managed"):P0} (MappedView)"));
Directory.Delete(dir, true);

static double Timed(Action action)
{
    var clock = System.Diagnostics.Stopwatch.StartNew();
    action();
    return clock.Elapsed.TotalSeconds;
}
