using System.Diagnostics;
using PciKit.Devices.Ivshmem;
using PciKit.Linux.Memory;
using PciKit.VfioUser.Server;

namespace PciKit.UserClient.Tests;

/// <summary>samples/ivshmem-driver and samples/ivshmem-app as separate processes: the app writes what the driver reads through the device.</summary>
public sealed class SampleProcessTests : IDisposable
{
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(60);
    private readonly string _dir = Directory.CreateTempSubdirectory("pkus").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task The_app_writes_the_in_process_model_s_BAR2_and_the_driver_reads_it_through_the_device()
    {
        string socket = Path.Combine(_dir, "driver.sock");
        using var driver = await Driver.StartAsync(socket);

        var (status, output) = await RunAppAsync("--socket", socket, "--offset", "64", "--write", "hello ivshmem");
        Assert.True(status == 0, output);
        Assert.Contains("mapped type 0: 4194304 bytes", output);
        Assert.Contains("wrote: hello ivshmem", output);
        Assert.Equal("data: hello ivshmem", await driver.CommandAsync("read 64 13"));

        (status, output) = await RunAppAsync("--socket", socket, "--type", "1", "--read-only", "--offset", "64", "--read", "5");
        Assert.True(status == 0, output);
        Assert.Contains("read-only", output);
        Assert.Contains("read: hello", output);

        (status, output) = await RunAppAsync("--socket", socket, "--type", "1", "--write", "x");
        Assert.Equal(2, status);
        Assert.Contains("memory type 1 is offered read-only", output);

        (status, output) = await RunAppAsync("--socket", socket, "--read-only", "--write", "x");
        Assert.Equal(3, status);
        Assert.Equal("data: h", await driver.CommandAsync("read 64 1"));

        Assert.StartsWith("stopped; 3 grant(s), 1 refusal(s)", await driver.QuitAsync());
    }

    [Fact]
    public async Task Over_vfio_user_the_app_writes_into_the_memory_of_a_device_served_by_this_process()
    {
        var device = new IvshmemDevice(new IvshmemOptions { Allocator = SharedMemoryAllocator.Instance, SharedMemorySize = 1 << 20 });
        using var server = VfioUserServer.Start(device, Path.Combine(_dir, "ivshmem.sock"));
        string socket = Path.Combine(_dir, "driver.sock");
        using var driver = await Driver.StartAsync(socket, "--vfio-user", server.SocketPath);
        Assert.Contains("vfio-user", driver.ReadyLine);

        var (status, output) = await RunAppAsync("--socket", socket, "--write", "across three processes");
        Assert.True(status == 0, output);

        var seen = new byte[22];
        device.SharedMemory.CopyTo(0, seen);
        Assert.Equal("across three processes", System.Text.Encoding.UTF8.GetString(seen));
        Assert.Equal("data: across", await driver.CommandAsync("read 0 6"));
        await driver.QuitAsync();
    }

    private static async Task<(int Status, string Output)> RunAppAsync(params string[] args)
    {
        using var app = Process.Start(Dotnet(FindSample("ivshmem-app"), args))!;
        var output = app.StandardOutput.ReadToEndAsync();
        var error = app.StandardError.ReadToEndAsync();
        await app.WaitForExitAsync().WaitAsync(HangGuard);
        return (app.ExitCode, await output + await error);
    }

    private static ProcessStartInfo Dotnet(string dll, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        return start;
    }

    /// <summary>NAME.dll: next to the tests, else the sample's output for this configuration (built through the project reference).</summary>
    private static string FindSample(string name)
    {
        string here = AppContext.BaseDirectory;
        string beside = Path.Combine(here, name + ".dll");
        if (File.Exists(beside)) return beside;
        string tfm = new DirectoryInfo(here).Name;
        string configuration = new DirectoryInfo(here).Parent!.Name;
        for (var dir = new DirectoryInfo(here); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "samples", name, "bin", configuration, tfm, name + ".dll");
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"{name}.dll was not found beside {here} nor under samples/{name}/bin/{configuration}/{tfm}; build samples/{name} first.");
    }

    /// <summary>The driver sample, running: answers stdin commands with one line each.</summary>
    private sealed class Driver : IDisposable
    {
        private readonly Process _process;

        private Driver(Process process, string ready)
        {
            _process = process;
            ReadyLine = ready;
        }

        public string ReadyLine { get; }

        public static async Task<Driver> StartAsync(string socket, params string[] more)
        {
            var process = Process.Start(Dotnet(FindSample("ivshmem-driver"), ["--socket", socket, .. more]))!;
            string? ready = await process.StandardOutput.ReadLineAsync().WaitAsync(HangGuard);
            if (ready is null || !ready.StartsWith("ready: ", StringComparison.Ordinal))
            {
                process.Kill();
                throw new InvalidOperationException($"the driver did not get ready: '{ready}' {await process.StandardError.ReadToEndAsync()}");
            }
            return new Driver(process, ready);
        }

        public async Task<string?> CommandAsync(string line)
        {
            await _process.StandardInput.WriteLineAsync(line);
            await _process.StandardInput.FlushAsync();
            return await _process.StandardOutput.ReadLineAsync().WaitAsync(HangGuard);
        }

        public async Task<string> QuitAsync()
        {
            string? last = await CommandAsync("quit");
            await _process.WaitForExitAsync().WaitAsync(HangGuard);
            Assert.Equal(0, _process.ExitCode);
            return last ?? "";
        }

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill();
            _process.Dispose();
        }
    }
}
