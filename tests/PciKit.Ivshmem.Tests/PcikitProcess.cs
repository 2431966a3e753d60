using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace PciKit.Ivshmem.Tests;

/// <summary><c>dotnet pcikit.dll ARGS</c> as a child process with line-by-line access to its stdout and its stdin.</summary>
internal sealed partial class PcikitProcess : IDisposable
{
    public const int SIGINT = 2;
    public const int SIGTERM = 15;

    private readonly BlockingCollection<string> _lines = new();
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private PcikitProcess(Process process)
    {
        Process = process;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) { _lines.CompleteAdding(); return; }
            lock (_stdout) _stdout.AppendLine(e.Data);
            _lines.Add(e.Data);
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Process Process { get; }

    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }

    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    public static PcikitProcess Start(params string[] args)
    {
        // Through env(1) with SIGINT and SIGQUIT at their defaults: a test run started in the background ("… &" in a
        // script) inherits them ignored, and a program started with SIGINT ignored keeps ignoring it, as the shell
        // convention for background jobs wants (the .NET runtime follows it). The process keeps env's pid (it execs).
        var psi = new ProcessStartInfo("env")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("--default-signal=INT,QUIT");
        psi.ArgumentList.Add(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet");
        psi.ArgumentList.Add(FindPcikit());
        foreach (string a in args) psi.ArgumentList.Add(a);
        return new PcikitProcess(Process.Start(psi)!);
    }

    /// <summary>Runs to completion; returns exit code, stdout, stderr.</summary>
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var p = Start(args);
        p.Process.StandardInput.Close();
        Assert.True(p.Process.WaitForExit(TimeSpan.FromSeconds(60)), "pcikit did not finish within 60 s");
        p.Process.WaitForExit();
        return (p.Process.ExitCode, p.Stdout, p.Stderr);
    }

    /// <summary>Waits for a stdout line containing <paramref name="text"/>; returns it.</summary>
    public string WaitForLine(string text, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            TimeSpan left = deadline - DateTime.UtcNow;
            string? line = null;
            if (left <= TimeSpan.Zero || !_lines.TryTake(out line, left))
            {
                Assert.Fail($"no line containing '{text}' from pcikit; stdout:\n{Stdout}\nstderr:\n{Stderr}");
            }

            if (line!.Contains(text, StringComparison.Ordinal)) return line;
        }
    }

    public void Send(string line)
    {
        Process.StandardInput.WriteLine(line);
        Process.StandardInput.Flush();
    }

    public void Signal(int signal) => Assert.Equal(0, Kill(Process.Id, signal));

    public int WaitForExit()
    {
        Assert.True(Process.WaitForExit(TimeSpan.FromSeconds(30)), $"pcikit did not exit within 30 s; stderr:\n{Stderr}");
        Process.WaitForExit();
        return Process.ExitCode;
    }

    public void Dispose()
    {
        if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        Process.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    internal static partial int Kill(int pid, int signal);

    /// <summary>pcikit.dll: next to the tests, else the CLI project's output for this configuration.</summary>
    private static string FindPcikit()
    {
        string here = AppContext.BaseDirectory;
        string beside = Path.Combine(here, "pcikit.dll");
        if (File.Exists(beside)) return beside;
        string tfm = new DirectoryInfo(here).Name;
        string configuration = new DirectoryInfo(here).Parent!.Name;
        for (var dir = new DirectoryInfo(here); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "src", "pcikit", "bin", configuration, tfm, "pcikit.dll");
            if (File.Exists(candidate)) return candidate;
        }

        throw new FileNotFoundException($"pcikit.dll was not found beside {here} nor under src/pcikit/bin/{configuration}/{tfm}; build src/pcikit first.");
    }
}
