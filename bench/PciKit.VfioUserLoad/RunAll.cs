using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace PciKit.VfioUserLoad;

/// <summary>
/// Runs every measurement side by side, for each CPU placement (pinned: server and client on CPU 0; split: server on
/// CPU 0, client on CPU 1), R times, and prints markdown tables of the medians with the floors beside the subject.
/// Floors: PciKit's C echo (bench/echo/echo.c, compiled here with gcc), the C# raw client against that C echo server,
/// and the C# echo server. Subject: this tool's raw vfio-user client against a separate PciKit server process.
/// </summary>
internal static class RunAll
{
    private const int Warmup = 20000;
    private static readonly Dictionary<string, List<Dictionary<string, double>>> s_results = [];
    private static string s_tmp = "";
    private static int s_socket;
    private static readonly StringBuilder s_log = new();

    public static int Run(string[] args)
    {
        int reps = Program.Option(args, "--reps", 3);
        int n = Program.Option(args, "--n", 100000);
        int secondsArg = Array.IndexOf(args, "--seconds");
        double seconds = secondsArg >= 0 ? Program.Dbl(args[secondsArg + 1]) : 1.0;
        int pl = Array.IndexOf(args, "--placements");
        string[] placements = pl >= 0 ? args[pl + 1].Split(',') : ["pinned", "split"];
        int outIndex = Array.IndexOf(args, "--out");
        string? outFile = outIndex >= 0 ? args[outIndex + 1] : null;
        bool waitQuiet = args.Contains("--wait-quiet");

        s_tmp = Directory.CreateTempSubdirectory("vfio-bench-").FullName;
        string echoSource = Path.Combine(AppContext.BaseDirectory, "echo.c");
        string echo = Path.Combine(s_tmp, "echo");
        Exec("gcc", ["-O2", "-Wall", "-o", echo, echoSource]);
        var (self, selfArgs) = SelfCommand();
        Note($"tool: {self} {string.Join(' ', selfArgs)}; C echo: gcc -O2 {echoSource}; tmp {s_tmp}");
        Note($"N={n} round trips per latency run (+{Warmup} warm-up), DMA {seconds} s per figure, {reps} repetitions; medians reported");

        for (int rep = 1; rep <= reps; rep++)
        {
            foreach (string placement in placements)
            {
                string sc = "0", cc = placement == "pinned" ? "0" : "1";
                double idle = waitQuiet ? WaitQuiet() : IdleFraction(1000);
                Note($"rep {rep} {placement}: idle before {idle:P0}, loadavg {File.ReadAllText("/proc/loadavg").Trim()}");
                foreach (int k in new[] { 1, 16 })
                {
                    string sock = Sock();
                    using (var srv = Start(sc, echo, ["server", sock]))
                        Add($"{placement}/c-echo/k{k}", Exec("taskset", ["-c", cc, echo, "client", sock, $"{n}", $"{k}", $"{Warmup}"]));
                    sock = Sock();
                    using (var srv = Start(sc, echo, ["server", sock]))
                        Add($"{placement}/cs-client-c-echo/k{k}", Exec("taskset", ["-c", cc, self, .. selfArgs, "echo-client", sock, $"{n}", $"{k}", $"{Warmup}"]));
                    sock = Sock();
                    using (var srv = Start(sc, self, [.. selfArgs, "echo-server", sock]))
                        Add($"{placement}/cs-echo/k{k}", Exec("taskset", ["-c", cc, self, .. selfArgs, "echo-client", sock, $"{n}", $"{k}", $"{Warmup}"]));
                }
                {
                    string sock = Sock();
                    using var srv = Start(sc, self, [.. selfArgs, "serve", sock], waitFor: "ready");
                    string[] Client(params string[] a) => ["-c", cc, self, .. selfArgs, "client", sock, .. a];
                    Add($"{placement}/selftest", Exec("taskset", Client("selftest")));
                    Exec("taskset", Client("warmup"));
                    foreach (int k in new[] { 1, 16 })
                        foreach (string op in new[] { "read", "write" })
                            Add($"{placement}/pcikit-{op}/k{k}", Exec("taskset", Client("access", op, $"{n}", $"{k}", $"{Warmup}")));
                    // The C client of bench/echo/echo.c against the same server: floor and subject measured by one client.
                    foreach (int k in new[] { 1, 16 })
                        foreach (string op in new[] { "read", "write" })
                            Add($"{placement}/c-pcikit-{op}/k{k}", Exec("taskset", ["-c", cc, echo, "vfio-client", sock, op, $"{n}", $"{k}", $"{Warmup}"]));
                    foreach (string mode in new[] { "msg", "fd" })
                        foreach (string dir in new[] { "read", "write" })
                            foreach (int chunk in new[] { 4096, 1 << 20 })
                                Add($"{placement}/dma-{mode}-{dir}/{chunk}", Exec("taskset", Client("dma", mode, dir, $"{chunk}", Fmt(seconds))));
                    foreach (string dir in new[] { "read", "write" })
                        foreach (int chunk in new[] { 4096, 1 << 20 })
                            Add($"{placement}/memcpy-{dir}/{chunk}", Exec("taskset", ["-c", sc, self, .. selfArgs, "memcpy", dir, $"{chunk}", Fmt(seconds)])); // on the CPU that runs the device's copies
                    Add($"{placement}/alloc", Exec("taskset", Client("alloc", "20000")));
                }
            }
        }
        string report = Report(placements);
        Console.WriteLine(report);
        if (outFile is not null) File.WriteAllText(outFile, report);
        try { Directory.Delete(s_tmp, true); } catch (IOException) { }
        return 0;
    }

    private static string Fmt(double v) => v.ToString(CultureInfo.InvariantCulture);
    private static string Sock() => Path.Combine(s_tmp, $"s{++s_socket}.sock");

    private static void Note(string s)
    {
        Console.Error.WriteLine(s);
        s_log.AppendLine("- " + s);
    }

    private static void Add(string key, string output)
    {
        string line = output.Trim().Split('\n').Last();
        Console.Error.WriteLine($"  {key}: {line}");
        if (!s_results.TryGetValue(key, out var list)) s_results[key] = list = [];
        list.Add(Stats.Parse(line));
    }

    private static double Get(string key, string field) =>
        s_results.TryGetValue(key, out var list) ? Stats.Median(list.Where(d => d.ContainsKey(field)).Select(d => d[field])) : double.NaN;

    private static string Range(string key, string field)
    {
        if (!s_results.TryGetValue(key, out var list) || list.Count < 2) return "";
        var v = list.Where(d => d.ContainsKey(field)).Select(d => d[field]).ToArray();
        return string.Create(CultureInfo.InvariantCulture, $" ({v.Min():0.##}–{v.Max():0.##})");
    }

    private static string RangeK(string key, string field)
    {
        if (!s_results.TryGetValue(key, out var list) || list.Count < 2) return "";
        var v = list.Where(d => d.ContainsKey(field)).Select(d => d[field]).ToArray();
        return $" ({K(v.Min())}–{K(v.Max())})";
    }

    private static (string, string[]) SelfCommand()
    {
        string path = Environment.ProcessPath!;
        if (Path.GetFileNameWithoutExtension(path) == "dotnet")
            return (path, [typeof(Program).Assembly.Location]);
        return (path, []);
    }

    /// <summary>A server process this tool started: echo servers exit when their client leaves; the PciKit server serves until stopped, so it is killed by its own pid.</summary>
    private sealed class Child(Process p, bool stop) : IDisposable
    {
        public void Dispose()
        {
            if (stop && !p.HasExited) p.Kill();
            if (!p.WaitForExit(15000))
            {
                Console.Error.WriteLine($"  (stopping server pid {p.Id})");
                p.Kill();
                p.WaitForExit();
            }
            p.Dispose();
        }
    }

    private static Child Start(string cpu, string exe, string[] args, string? waitFor = null)
    {
        var psi = new ProcessStartInfo("taskset") { RedirectStandardOutput = waitFor is not null, UseShellExecute = false };
        foreach (var a in (string[])["-c", cpu, exe, .. args]) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        if (waitFor is not null)
        {
            string? line;
            while ((line = p.StandardOutput.ReadLine()) is not null && line.Trim() != waitFor) { }
            if (line is null) throw new IOException($"{exe} exited before it was ready");
        }
        return new Child(p, stop: waitFor is not null);
    }

    private static string Exec(string exe, string[] args)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(300_000)) { p.Kill(); throw new IOException($"{exe} timed out"); }
        if (p.ExitCode != 0) throw new IOException($"{exe} {string.Join(' ', args)} failed ({p.ExitCode}): {stdout} {stderr.Result}");
        return stdout;
    }

    private static (long Idle, long Total) CpuTimes()
    {
        var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
        return (f[3] + f[4], f.Sum());
    }

    private static double IdleFraction(int ms)
    {
        var a = CpuTimes();
        Thread.Sleep(ms);
        var b = CpuTimes();
        return (b.Total - a.Total) == 0 ? 1 : (double)(b.Idle - a.Idle) / (b.Total - a.Total);
    }

    /// <summary>Waits (up to 3 minutes) for a 2-second window with ≥ 90% idle CPU.</summary>
    private static double WaitQuiet()
    {
        var sw = Stopwatch.StartNew();
        double idle;
        while ((idle = IdleFraction(2000)) < 0.90 && sw.Elapsed.TotalMinutes < 3) { }
        return idle;
    }

    private static string R(double v) => double.IsNaN(v) ? "–" : v.ToString("0.00", CultureInfo.InvariantCulture);
    private static string K(double v) => double.IsNaN(v) ? "–" : (v / 1000).ToString("0.0", CultureInfo.InvariantCulture) + "k";

    private static string Report(string[] placements)
    {
        var sb = new StringBuilder();
        sb.AppendLine("### Run notes").AppendLine().Append(s_log).AppendLine();
        foreach (string pl in placements)
        {
            string where = pl == "pinned" ? "pinned: server and client `taskset -c 0`" : "split: server `taskset -c 0`, client `taskset -c 1`";
            sb.AppendLine($"### 4-byte region access round trip — {where}").AppendLine();
            sb.AppendLine("| K in flight | client → server | p50 µs (range) | p99 µs | p99.9 µs | ops/s (range) | p50 ÷ C floor | p50 ÷ C#→C echo | ops ÷ C floor |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
            foreach (int k in new[] { 1, 16 })
            {
                string c = $"{pl}/c-echo/k{k}", cc = $"{pl}/cs-client-c-echo/k{k}";
                foreach (var (name, key) in new[] { ("C client → C echo (**floor**)", c), ("C client → **PciKit REGION_READ**", $"{pl}/c-pcikit-read/k{k}"),
                    ("C client → **PciKit REGION_WRITE**", $"{pl}/c-pcikit-write/k{k}"), ("C# client → C echo", cc), ("C# client → PciKit REGION_READ", $"{pl}/pcikit-read/k{k}"),
                    ("C# client → PciKit REGION_WRITE", $"{pl}/pcikit-write/k{k}"), ("C# client → C# echo", $"{pl}/cs-echo/k{k}") })
                {
                    sb.AppendLine($"| {k} | {name} | {R(Get(key, "p50_us"))}{Range(key, "p50_us")} | {R(Get(key, "p99_us"))} | {R(Get(key, "p999_us"))} | {K(Get(key, "ops"))}{RangeK(key, "ops")} | " +
                                  $"{R(Get(key, "p50_us") / Get(c, "p50_us"))} | {R(Get(key, "p50_us") / Get(cc, "p50_us"))} | {R(Get(key, "ops") / Get(c, "ops"))} |");
                }
            }
            sb.AppendLine();
            sb.AppendLine($"### DMA throughput — {where} (16 MiB per doorbell; GB/s = 10⁹ B/s)").AppendLine();
            sb.AppendLine("| chunk | direction | message DMA GB/s (range) | µs per message | fd-mapped DMA GB/s (range) | memcpy GB/s, interleaved with it | fd ÷ memcpy | memcpy GB/s, separate process on the server's CPU |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|");
            foreach (int chunk in new[] { 4096, 1 << 20 })
                foreach (string dir in new[] { "write", "read" })
                {
                    string msg = $"{pl}/dma-msg-{dir}/{chunk}", fd = $"{pl}/dma-fd-{dir}/{chunk}", mc = $"{pl}/memcpy-{dir}/{chunk}";
                    string label = dir == "write" ? "device writes memory (DMA_WRITE)" : "device reads memory (DMA_READ)";
                    sb.AppendLine($"| {(chunk == 4096 ? "4 KiB" : "1 MiB")} | {label} | {R(Get(msg, "gbps"))}{Range(msg, "gbps")} | {R(Get(msg, "us_per_chunk"))} | {R(Get(fd, "gbps"))}{Range(fd, "gbps")} | {R(Get(fd, "memcpy_gbps"))}{Range(fd, "memcpy_gbps")} | {R(Get(fd, "gbps") / Get(fd, "memcpy_gbps"))} | {R(Get(mc, "gbps"))}{Range(mc, "gbps")} |");
                }
            sb.AppendLine();
            string al = $"{pl}/alloc";
            sb.AppendLine($"### Server allocation — {pl}").AppendLine();
            sb.AppendLine("| path | units | bytes (process) | bytes per unit | serving thread bytes per unit |");
            sb.AppendLine("|---|---|---|---|---|");
            sb.AppendLine($"| REGION_READ/WRITE, K=1 and 16 | {Get(al, "requests")} requests | {Get(al, "process_bytes")} | {R(Get(al, "bytes_per_req"))} | {R(Get(al, "thread_bytes_per_req"))} |");
            sb.AppendLine($"| DMA_WRITE messages (4 KiB) | {Get(al, "dma_write_msgs")} messages | {Get(al, "dma_write_process_bytes")} | {R(Get(al, "dma_write_bytes_per_msg"))} | |");
            sb.AppendLine($"| DMA_READ messages (4 KiB) | {Get(al, "dma_read_msgs")} messages | {Get(al, "dma_read_process_bytes")} | {R(Get(al, "dma_read_bytes_per_msg"))} | |");
            sb.AppendLine();
        }
        return sb.ToString();
    }
}
