using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using PciKit.VfioUser.Server;

[assembly: SupportedOSPlatform("linux")]

namespace PciKit.VfioUserLoad;

/// <summary>
/// vfio-user load tool. Modes:
/// <code>
///   serve &lt;sock&gt; [--clients N]                 PciKit server for BenchDevice (exits after N clients; default: never)
///   client &lt;sock&gt; access read|write N K W      4-byte BAR0 accesses, K in flight
///   client &lt;sock&gt; dma msg|fd read|write CHUNK SECONDS [WINDOW]
///   client &lt;sock&gt; alloc N                      server bytes allocated per steady-state request
///   client &lt;sock&gt; selftest                    pipelined framing/fd check (run-all runs it first)
///   client &lt;sock&gt; warmup                       exercises every path (JIT tier-up) without measuring
///   memcpy read|write CHUNK SECONDS             memcpy between a 1 MiB buffer and a memfd mapping
///   echo-server &lt;sock&gt;                          C# echo floor server (one client)
///   echo-client &lt;sock&gt; N K W                    C# echo floor client (also talks to the C echo server)
///   run-all [--reps R] [--n N] [--seconds S] [--placements pinned,split] [--out FILE] [--wait-quiet]
/// </code>
/// Each measuring mode prints one "key=value ..." line.
/// </summary>
internal static unsafe class Program
{
    private const ulong MsgIova = 0x1000_0000, FdIova = 0x4000_0000, WindowSize = 16 << 20;

    private static int Main(string[] args)
    {
        if (args.Length == 0) return Usage();
        try
        {
            switch (args[0])
            {
                case "serve": return Serve(args[1], Option(args, "--clients", 0));
                case "client": return Client(args);
                case "memcpy": Console.WriteLine(Memcpy(args[1] == "read", Int(args[2]), Dbl(args[3]))); return 0;
                case "echo-server": Echo.Server(args[1]); return 0;
                case "echo-client": Console.WriteLine(Echo.Client(args[1], Int(args[2]), Int(args[3]), Int(args[4]))); return 0;
                case "run-all": return RunAll.Run(args);
                default: return Usage();
            }
        }
        catch (Exception e) when (e is IOException or ArgumentException or IndexOutOfRangeException or FormatException)
        {
            Console.Error.WriteLine($"{args[0]}: {e.Message}");
            return 1;
        }
    }

    private static int Usage()
    {
        Console.Error.WriteLine("usage: serve <sock> [--clients N] | client <sock> access read|write N K W | client <sock> dma msg|fd read|write CHUNK SECONDS [WINDOW] | client <sock> alloc N | client <sock> warmup | memcpy read|write CHUNK SECONDS | echo-server <sock> | echo-client <sock> N K W | run-all [...]");
        return 2;
    }

    internal static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);
    internal static double Dbl(string s) => double.Parse(s, CultureInfo.InvariantCulture);
    internal static int Option(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? Int(args[i + 1]) : fallback;
    }

    private static int Serve(string path, int clients)
    {
        var device = new BenchDevice();
        using var server = VfioUserServer.Start(device, path, new VfioUserServerOptions { ReplaceStaleSocket = true });
        Console.WriteLine("ready");
        while (clients <= 0 || server.ClientsServed < clients) Thread.Sleep(50);
        return 0;
    }

    private static int Client(string[] args)
    {
        string path = args[1];
        using var c = new RawClient(path);
        switch (args[2])
        {
            case "access":
                Console.WriteLine(c.AccessLoop(args[3] == "write", Int(args[4]), Int(args[5]), Int(args[6])));
                return 0;
            case "dma":
                Console.WriteLine(DmaBench(c, args[3] == "fd", args[4] == "read", Int(args[5]), Dbl(args[6]), args.Length > 7 ? Int(args[7]) : 0));
                return 0;
            case "alloc":
                Console.WriteLine(Alloc(c, Int(args[3])));
                return 0;
            case "selftest":
                Console.WriteLine(c.SelfTest(Guest.Instance.MemFd, Guest.Instance.Shared, Guest.Instance.Message, WindowSize));
                return 0;
            case "warmup":
                for (int i = 0; i < 3; i++)
                {
                    c.AccessLoop(false, 20000, 1, 0); c.AccessLoop(true, 20000, 1, 0);
                    c.AccessLoop(false, 20000, 16, 0); c.AccessLoop(true, 20000, 16, 0);
                }
                foreach (bool fd in new[] { false, true })
                    foreach (bool read in new[] { false, true })
                        foreach (int chunk in new[] { 4096, 1 << 20 })
                            DmaBench(c, fd, read, chunk, 0.15);
                Console.WriteLine("warm=1");
                return 0;
            default:
                return Usage();
        }
    }

    private sealed class Guest
    {
        public static readonly Guest Instance = new();
        public readonly byte* Message = (byte*)NativeMemory.AlignedAlloc((nuint)WindowSize, 4096);
        public readonly int MemFd;
        public readonly byte* Shared;
        private Guest()
        {
            new Span<byte>(Message, (int)WindowSize).Fill(1);
            var (fd, address) = Native.CreateSharedMemory((long)WindowSize);
            MemFd = fd;
            Shared = (byte*)address;
        }
    }

    private static readonly HashSet<(nint, bool)> s_mapped = [];

    /// <summary>
    /// Device DMA of 16 MiB per doorbell in CHUNK-byte device accesses, repeated for SECONDS (after a short warm-up).
    /// With <paramref name="window"/> (message DMA only), the accesses wrap within the first WINDOW bytes of the guest
    /// buffer, so the data stays cache-hot, as in a C floor that sends one buffer again and again.
    /// </summary>
    private static string DmaBench(RawClient c, bool fdMapped, bool deviceReads, int chunk, double seconds, int window = 0)
    {
        if (window != 0 && (fdMapped || window < chunk || window % chunk != 0 || (ulong)window > WindowSize))
            throw new ArgumentException("a DMA window is for message DMA and must be a multiple of the chunk, at most 16 MiB");
        var g = Guest.Instance;
        ulong iova = fdMapped ? FdIova : MsgIova;
        byte* guest = fdMapped ? g.Shared : g.Message;
        if (s_mapped.Add((c.Fd, fdMapped))) c.DmaMap(iova, WindowSize, fdMapped ? g.MemFd : -1);
        int count = (int)(WindowSize / (ulong)chunk);
        c.RegionWrite(RawClient.Bar0, BenchDevice.RegDmaAddress, 8, iova);
        c.RegionWrite(RawClient.Bar0, BenchDevice.RegDmaChunk, 4, (ulong)chunk);
        c.RegionWrite(RawClient.Bar0, BenchDevice.RegDmaCount, 4, (ulong)count);
        c.RegionWrite(RawClient.Bar0, BenchDevice.RegDmaWindow, 4, (ulong)window);
        int direction = deviceReads ? 1 : 2;
        new Span<byte>(guest, (int)WindowSize).Clear();
        int expectMessages = fdMapped ? 0 : count;
        // warm-up + check
        int msgs = c.Dma(direction, iova, guest, iova, WindowSize);
        if (msgs != expectMessages) throw new IOException($"expected {expectMessages} DMA messages per doorbell, got {msgs}");
        if (c.RegionRead(RawClient.Bar0, BenchDevice.RegDmaStatus, 4) != 0) throw new IOException("the device reports a DMA failure");
        if (!deviceReads)
            for (int j = 0; j < chunk; j += 97)
                if (guest[(window == 0 ? (long)(count - 1) * chunk : (long)(count - 1) * chunk % window) + j] != (byte)(((long)(count - 1) * chunk % BenchDevice.BufferSize + j) * 7 + 3)) throw new IOException("DMA data mismatch");
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < Math.Min(0.2, seconds)) c.Dma(direction, iova, guest, iova, WindowSize);
        long reps = 0;
        if (fdMapped)
        {
            // Alternate doorbells with the same copies done here by memcpy, so both see the same machine state.
            byte* buffer = (byte*)NativeMemory.AlignedAlloc(BenchDevice.BufferSize, 4096);
            new Span<byte>(buffer, BenchDevice.BufferSize).Fill(3);
            long dmaTicks = 0, copyTicks = 0;
            for (int i = 0; i < 3; i++) CopyPass(guest, buffer, deviceReads, chunk, count);
            while (Stopwatch.GetElapsedTime(0, dmaTicks + copyTicks).TotalSeconds < 2 * seconds)
            {
                long t0 = Stopwatch.GetTimestamp();
                c.Dma(direction, iova, guest, iova, WindowSize);
                long t1 = Stopwatch.GetTimestamp();
                CopyPass(guest, buffer, deviceReads, chunk, count);
                long t2 = Stopwatch.GetTimestamp();
                dmaTicks += t1 - t0;
                copyTicks += t2 - t1;
                reps++;
            }
            NativeMemory.AlignedFree(buffer);
            double dmaSeconds = Stopwatch.GetElapsedTime(0, dmaTicks).TotalSeconds, copySeconds = Stopwatch.GetElapsedTime(0, copyTicks).TotalSeconds;
            return string.Create(CultureInfo.InvariantCulture,
                $"gbps={reps * (double)WindowSize / dmaSeconds / 1e9:F2} memcpy_gbps={reps * (double)WindowSize / copySeconds / 1e9:F2} doorbells={reps} msgs=0 us_per_chunk={dmaSeconds * 1e6 / (reps * count):F2}");
        }
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            c.Dma(direction, iova, guest, iova, WindowSize);
            reps++;
        }
        double s = sw.Elapsed.TotalSeconds;
        double bytes = reps * (double)WindowSize;
        return string.Create(CultureInfo.InvariantCulture, $"gbps={bytes / s / 1e9:F2} doorbells={reps} msgs={reps * expectMessages} us_per_chunk={s * 1e6 / (reps * count):F2}");
    }

    /// <summary>The device's copy pattern as plain memcpy: chunk i between window offset i × chunk and buffer offset (i × chunk) mod 1 MiB.</summary>
    private static void CopyPass(byte* window, byte* buffer, bool read, int chunk, int count)
    {
        for (int i = 0; i < count; i++)
        {
            byte* mem = window + (long)i * chunk;
            byte* dev = buffer + (long)i * chunk % BenchDevice.BufferSize;
            if (read) Buffer.MemoryCopy(mem, dev, chunk, chunk); else Buffer.MemoryCopy(dev, mem, chunk, chunk);
        }
    }

    /// <summary>The same access pattern as the device's DMA (CHUNK-byte copies between a 1 MiB buffer and 16 MiB of memfd memory), as plain memcpy.</summary>
    private static string Memcpy(bool read, int chunk, double seconds)
    {
        var g = Guest.Instance;
        byte* buffer = (byte*)NativeMemory.AlignedAlloc(BenchDevice.BufferSize, 4096);
        new Span<byte>(buffer, BenchDevice.BufferSize).Fill(3);
        int count = (int)(WindowSize / (ulong)chunk);
        void Pass()
        {
            for (int i = 0; i < count; i++)
            {
                byte* mem = g.Shared + (long)i * chunk;
                byte* dev = buffer + (long)i * chunk % BenchDevice.BufferSize;
                if (read) Buffer.MemoryCopy(mem, dev, chunk, chunk); else Buffer.MemoryCopy(dev, mem, chunk, chunk);
            }
        }
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 0.2) Pass();
        long reps = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < seconds) { Pass(); reps++; }
        return string.Create(CultureInfo.InvariantCulture, $"gbps={reps * (double)WindowSize / sw.Elapsed.TotalSeconds / 1e9:F2}");
    }

    /// <summary>Server allocation over steady-state requests, measured inside the server by the device's probe register.</summary>
    private static string Alloc(RawClient c, int n)
    {
        c.AccessLoop(false, 20000, 1, 0);
        c.AccessLoop(true, 20000, 16, 0);
        (long Process, long Thread) Probe(Action body)
        {
            c.RegionWrite(RawClient.Bar0, BenchDevice.RegAllocProbe, 4, 1);
            body();
            c.RegionWrite(RawClient.Bar0, BenchDevice.RegAllocProbe, 4, 2);
            return ((long)c.RegionRead(RawClient.Bar0, BenchDevice.RegAllocProcess, 8), (long)c.RegionRead(RawClient.Bar0, BenchDevice.RegAllocThread, 8));
        }
        var access = Probe(() =>
        {
            c.AccessLoop(false, n, 1, 0); c.AccessLoop(true, n, 1, 0);
            c.AccessLoop(false, n, 16, 0); c.AccessLoop(true, n, 16, 0);
        });
        double requests = 4.0 * n + 1;
        // DMA by message: 16 MiB per doorbell in 4 KiB messages (4096 messages per doorbell), 8 doorbells each way.
        var g = Guest.Instance;
        DmaBench(c, false, false, 4096, 0.05);
        var dmaMsg = Probe(() =>
        {
            for (int i = 0; i < 8; i++) { c.Dma(2, MsgIova, g.Message, MsgIova, WindowSize); }
        });
        DmaBench(c, false, true, 4096, 0.05);
        var dmaMsgRead = Probe(() =>
        {
            for (int i = 0; i < 8; i++) { c.Dma(1, MsgIova, g.Message, MsgIova, WindowSize); }
        });
        double messages = 8.0 * 4096;
        return string.Create(CultureInfo.InvariantCulture,
            $"requests={requests} process_bytes={access.Process} thread_bytes={access.Thread} bytes_per_req={access.Process / requests:F3} thread_bytes_per_req={access.Thread / requests:F3} " +
            $"dma_write_msgs={messages} dma_write_process_bytes={dmaMsg.Process} dma_write_bytes_per_msg={dmaMsg.Process / messages:F3} " +
            $"dma_read_msgs={messages} dma_read_process_bytes={dmaMsgRead.Process} dma_read_bytes_per_msg={dmaMsgRead.Process / messages:F3}");
    }
}
