using System.Diagnostics;
using System.Runtime.InteropServices;

namespace PciKit.VfioUser.Tests.Server;

/// <summary><c>pcikit serve edu --vfio-user PATH</c> as a separate process: served over the socket, stopped by SIGTERM.</summary>
public sealed partial class ServeProcessTests : IDisposable
{
    private const int SIGTERM = 15;
    private readonly string _dir = Directory.CreateTempSubdirectory("pkv").FullName;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>pcikit.dll: next to the tests, else the CLI project's output for this configuration (built through the project reference).</summary>
    private static string FindPcikit()
    {
        string here = AppContext.BaseDirectory;
        string beside = Path.Combine(here, "pcikit.dll");
        if (File.Exists(beside)) return beside;
        string tfm = new DirectoryInfo(here).Name;                  // net10.0
        string configuration = new DirectoryInfo(here).Parent!.Name; // Debug / Release
        for (var dir = new DirectoryInfo(here); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "src", "pcikit", "bin", configuration, tfm, "pcikit.dll");
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"pcikit.dll was not found beside {here} nor under src/pcikit/bin/{configuration}/{tfm}; build src/pcikit first.");
    }

    [Fact]
    public async Task ServeEduAnswersOverTheSocketAndStopsCleanlyOnSigterm()
    {
        string socket = Path.Combine(_dir, "edu.sock");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { FindPcikit(), "serve", "edu", "--vfio-user", socket }) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginErrorReadLine();
        try
        {
            string? first = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)); // hang guard
            Assert.StartsWith("serving edu (1234:11e8) over vfio-user at " + socket, first, StringComparison.Ordinal);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(socket));

            using var c = RawClient.Connect(socket);
            c.Negotiate();
            c.EnableMemoryAndBusMaster();
            Assert.Equal(0x010000EDu, c.Read32(0, 0x00)); // edu's identification register
            c.Write32(0, 0x04, 0x0000FFFF);
            Assert.Equal(0xFFFF0000u, c.Read32(0, 0x04));

            Assert.Equal(0, Kill(process.Id, SIGTERM)); // with the client still connected
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "pcikit serve did not exit within 30 s of SIGTERM");
            Assert.True(c.WasClosedByPeer());
            process.WaitForExit(); // drain the redirected streams
            Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}; stderr: {stderr}");
            Assert.False(File.Exists(socket));
            Assert.StartsWith("stopped; ", await process.StandardOutput.ReadToEndAsync(), StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
    }
}
