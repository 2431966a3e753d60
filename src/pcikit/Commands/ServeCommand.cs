using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using PciKit.Device;
using PciKit.Devices;
using PciKit.Linux;
using PciKit.VfioUser.Server;

namespace PciKit.Cli.Commands;

internal static class ServeCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var device = new Argument<string>("device") { Description = "Built-in device model to serve (see 'pcikit devices')." };
        var socket = new Option<string>("--vfio-user") { Description = "Serve over vfio-user on this UNIX socket path.", Required = true };
        var force = new Option<bool>("--force") { Description = "Replace a stale socket file (one nobody listens on)." };
        var mode = new Option<string>("--mode") { Description = "Socket file mode, octal (default 0600).", DefaultValueFactory = _ => "0600" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log connections and every protocol error." };
        var busyPoll = BusyPollOption.Create();
        var settings = new DeviceSettings();
        var command = new Command("serve", "Serve a built-in device model to vfio-user clients (QEMU 10.1+ vfio-user-pci, libvfio-user, pcikit) until Ctrl-C.")
        {
            device, socket, force, mode, verbose, busyPoll,
        };
        settings.AddTo(command);
        command.SetAction(parse =>
        {
            var model = DeviceCatalog.Get(parse.GetValue(device)!);
            string path = parse.GetValue(socket)!;
            string modeText = parse.GetValue(mode)!;
            if (!int.TryParse(modeText, NumberStyles.None, CultureInfo.InvariantCulture, out _) || modeText.Any(c => c > '7'))
                throw new CliUsageException($"--mode '{modeText}' is not an octal file mode such as 0600 or 0660");
            var fileMode = (UnixFileMode)Convert.ToInt32(modeText, 8);
            var busyPollTime = BusyPollOption.Read(parse, busyPoll); // a usage error before a disk image is opened or a server joined
            var instance = settings.Create(parse, model, settings.Read(parse, PciKit.Linux.Memory.SharedMemoryAllocator.Instance), out var owner); // RAM BARs become mmap-able
            using var owned = owner; // a disk image is closed, an ivshmem server left, when serving ends
            var log = PciLog.To(stderr, parse.GetValue(verbose) ? PciLogLevel.Information : PciLogLevel.Warning);
            instance.Log = log;
            VfioUserServer server;
            try
            {
                server = VfioUserServer.Start(instance, path, new VfioUserServerOptions
                {
                    SocketMode = fileMode,
                    ReplaceStaleSocket = parse.GetValue(force),
                    Log = log,
                    BusyPoll = busyPollTime,
                });
            }
            catch (SocketPathInUseException e)
            {
                throw new CliUsageException(e.IsStale
                    ? $"{path} is a stale socket file (nobody listens on it); remove it or pass --force"
                    : e.Message);
            }
            using var done = new ManualResetEventSlim();
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; done.Set(); });
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; done.Set(); });
            stdout.WriteLine($"serving {model.Name} ({instance.Identity.VendorId:x4}:{instance.Identity.DeviceId:x4}) over vfio-user at {path}; Ctrl-C stops");
            stdout.Flush();
            done.Wait();
            server.Dispose();
            stdout.WriteLine($"stopped; {server.ClientsServed} client(s) served");
            return 0;
        });
        return command;
    }
}
