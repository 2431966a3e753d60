using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using PciKit.Device;
using PciKit.Ivshmem;
using PciKit.Linux;

namespace PciKit.Cli.Commands;

/// <summary>
/// <c>pcikit ivshmem-server</c>: a drop-in for QEMU's <c>ivshmem-server</c> with its options (-S -M -m -l -n -F -p -v).
/// Without -F it daemonizes like QEMU's: the command re-runs itself detached (new session, stdio closed), waits until the
/// detached server listens, prints its pid and returns.
/// </summary>
internal static partial class IvshmemServerCommand
{
    /// <summary>The line a detached server prints when it listens (the launching process waits for it).</summary>
    internal const string ReadyPrefix = "ivshmem-server: ready, pid ";

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var socket = new Option<string>("-S", "--socket") { Description = $"UNIX socket path to listen on (default {IvshmemServerOptions.DefaultSocketPath}).", DefaultValueFactory = _ => IvshmemServerOptions.DefaultSocketPath };
        var shm = new Option<string?>("-M", "--shm") { Description = $"POSIX shared memory object to use, created if missing (default {IvshmemServerOptions.DefaultSharedMemoryName})." };
        var dir = new Option<string?>("-m", "--dir") { Description = "Directory (a hugetlbfs mount) in which to create the shared memory as an unlinked file." };
        var size = new Option<string>("-l", "--size") { Description = "Size of the shared memory; K, M and G suffixes (1K = 1024); rounded up to a power of two (default 4M).", DefaultValueFactory = _ => "4M" };
        var vectors = new Option<int>("-n", "--vectors") { Description = "Interrupt vectors per peer, 0 … 64 (default 1).", DefaultValueFactory = _ => 1 };
        var foreground = new Option<bool>("-F", "--foreground") { Description = "Stay in the foreground (default: daemonize, as QEMU's server does)." };
        var pidFile = new Option<string?>("-p", "--pid-file") { Description = "Write the server's pid to this file and remove it on exit (daemon default: $XDG_RUNTIME_DIR/ivshmem-server.pid, else /var/run/ivshmem-server.pid)." };
        var verbose = new Option<bool>("-v", "--verbose") { Description = "Log peers arriving and leaving (foreground only, as in QEMU)." };
        var force = new Option<bool>("--force") { Description = "Replace a stale socket file (one nobody listens on)." };
        var daemonChild = new Option<bool>("--daemon-child") { Hidden = true };
        var command = new Command("ivshmem-server", "Serve IVSHMEM peers (QEMU ivshmem-doorbell devices, pcikit ivshmem-client, IvshmemPeer): a drop-in for QEMU's ivshmem-server.")
        {
            socket, shm, dir, size, vectors, foreground, pidFile, verbose, force, daemonChild,
        };
        command.SetAction(parse =>
        {
            string? shmName = parse.GetValue(shm);
            string? directory = parse.GetValue(dir);
            if (shmName is not null && directory is not null) throw new CliUsageException("give either -M NAME (POSIX shared memory) or -m DIR (hugetlbfs), not both");
            string sizeText = parse.GetValue(size)!;
            if (!IvshmemSize.TryParse(sizeText, out ulong bytes, out string? sizeError)) throw new CliUsageException($"-l: {sizeError}");
            int n = parse.GetValue(vectors);
            if (n > 64) throw new CliUsageException("too many requested vectors (max is 64)");
            if (n < 0) throw new CliUsageException("-n: the number of vectors is 0 … 64");
            bool child = parse.GetValue(daemonChild);
            bool fg = parse.GetValue(foreground) || child;
            bool loud = parse.GetValue(verbose);
            if (loud && !fg) throw new CliUsageException("cannot use verbose in daemon mode (add -F)");
            var options = new IvshmemServerOptions
            {
                SocketPath = parse.GetValue(socket)!,
                SharedMemoryName = shmName ?? IvshmemServerOptions.DefaultSharedMemoryName,
                HugeTlbDirectory = directory,
                Size = bytes,
                Vectors = n,
                ReplaceStaleSocket = parse.GetValue(force),
                Log = loud ? PciLog.To(stdout, PciLogLevel.Information) : PciLog.To(stderr, PciLogLevel.Warning),
            };
            string? pid = parse.GetValue(pidFile) ?? (child ? DefaultPidFile() : null);
            if (!fg)
            {
                return Daemonize(parse.GetValue(socket)!, shmName, directory, sizeText, n, parse.GetValue(pidFile), parse.GetValue(force), stdout, stderr);
            }

            if (child)
            {
                _ = SetSid(); // leave the launching terminal's session (fails harmlessly if already a leader)
                options = options with { Log = PciLog.Null };
            }

            return Serve(options, pid, child, stdout, stderr);
        });
        return command;
    }

    private static int Serve(IvshmemServerOptions options, string? pidFile, bool child, TextWriter stdout, TextWriter stderr)
    {
        IvshmemServer server;
        try
        {
            server = IvshmemServer.Start(options);
        }
        catch (SocketPathInUseException e)
        {
            throw new CliUsageException(e.IsStale
                ? $"{options.SocketPath} is a stale socket file (nobody listens on it); remove it or pass --force"
                : e.Message);
        }

        using var done = new ManualResetEventSlim();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; done.Set(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; done.Set(); });
        server.Completion.ContinueWith(_ => done.Set(), TaskScheduler.Default);
        try
        {
            if (pidFile is not null)
            {
                File.WriteAllText(pidFile, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            server.Dispose();
            throw new IOException($"cannot write pid file {pidFile}: {e.Message}", e);
        }

        try
        {
            if (options.Size != server.SharedMemorySize)
            {
                stdout.WriteLine($"ivshmem-server: size {IvshmemSize.Format(options.Size)} rounded up to {IvshmemSize.Format(server.SharedMemorySize)} (a PCI BAR is a power of two)");
            }

            string memory = options.HugeTlbDirectory is { } d ? $"unlinked file in {d}" : $"POSIX shared memory '{options.SharedMemoryName}'";
            stdout.WriteLine($"ivshmem-server: listening on {options.SocketPath}; {memory} of {IvshmemSize.Format(server.SharedMemorySize)}; {options.Vectors} vector(s) per peer{(child ? "" : "; Ctrl-C stops")}");
            if (child)
            {
                stdout.WriteLine(ReadyPrefix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
                stdout.Flush();
                // The launcher stops reading now: write nothing more to the inherited pipes.
                Console.SetOut(TextWriter.Null);
                Console.SetError(TextWriter.Null);
                stdout = TextWriter.Null;
            }

            stdout.Flush();
            done.Wait();
            server.Dispose();
            if (server.Completion.IsFaulted)
            {
                stderr.WriteLine($"ivshmem-server: the server loop failed: {server.Completion.Exception!.InnerException!.Message}");
                return 1;
            }

            stdout.WriteLine($"ivshmem-server: stopped; {server.Counters.PeersAccepted} peer(s) served");
            return 0;
        }
        finally
        {
            server.Dispose();
            if (pidFile is not null) RemovePidFile(pidFile);
        }
    }

    /// <summary>
    /// Re-runs this command detached (<c>--daemon-child</c>: new session, stdin closed), waits until the child reports that
    /// it listens, prints its pid and returns 0; relays the child's error and returns 1 if it fails first.
    /// </summary>
    private static int Daemonize(string socket, string? shm, string? dir, string size, int vectors, string? pidFile, bool force, TextWriter stdout, TextWriter stderr)
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("cannot daemonize: the process path is unknown; use -F");
        var psi = new ProcessStartInfo(host)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") psi.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        foreach (string a in new[] { "ivshmem-server", "--daemon-child", "-S", socket, "-l", size, "-n", vectors.ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        if (shm is not null) { psi.ArgumentList.Add("-M"); psi.ArgumentList.Add(shm); }
        if (dir is not null) { psi.ArgumentList.Add("-m"); psi.ArgumentList.Add(dir); }
        if (pidFile is not null) { psi.ArgumentList.Add("-p"); psi.ArgumentList.Add(Path.GetFullPath(pidFile)); }
        if (force) psi.ArgumentList.Add("--force");
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot daemonize: the server process did not start; use -F");
        process.StandardInput.Close();
        var errors = process.StandardError.ReadToEndAsync();
        string? line;
        while ((line = process.StandardOutput.ReadLine()) is not null)
        {
            if (line.StartsWith(ReadyPrefix, StringComparison.Ordinal))
            {
                stdout.WriteLine($"ivshmem-server: running in the background as pid {line[ReadyPrefix.Length..]} (stop it with kill -TERM)");
                return 0;
            }

            stdout.WriteLine(line);
        }

        process.WaitForExit();
        string message = errors.Result.Trim();
        stderr.WriteLine(message.Length > 0 ? message : $"pcikit: the background server exited with code {process.ExitCode} before it listened");
        return process.ExitCode != 0 ? process.ExitCode : 1;
    }

    private static string DefaultPidFile()
    {
        string? run = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        return Path.Combine(string.IsNullOrEmpty(run) ? "/var/run" : run, "ivshmem-server.pid");
    }

    /// <summary>Removes the pid file only if it still names this process (another server may have taken it over).</summary>
    private static void RemovePidFile(string path)
    {
        try
        {
            if (File.Exists(path) && File.ReadAllText(path).Trim() == Environment.ProcessId.ToString(CultureInfo.InvariantCulture)) File.Delete(path);
        }
        catch (IOException)
        {
        }
    }

    [LibraryImport("libc", EntryPoint = "setsid", SetLastError = true)]
    private static partial int SetSid();
}
