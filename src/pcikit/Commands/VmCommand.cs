using System.CommandLine;
using PciKit.VfioUser.Server;
using PciKit.Devices;
using PciKit.Linux.Memory;
using PciKit.Vm;

namespace PciKit.Cli.Commands;

/// <summary><c>pcikit vm --device MODEL [--transport proxy|vfio-user] [--accel auto|kvm|tcg] -- GUEST COMMAND</c>.</summary>
internal static class VmCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var device = new Option<string?>("--device", "-d") { Description = "Built-in model to attach, served by this process (see 'pcikit devices')." };
        var transport = new Option<string>("--transport") { Description = "vfio-user (QEMU 10.2, built on first use) or proxy (Debian's QEMU 7.2 x-pci-proxy-dev).", DefaultValueFactory = _ => "vfio-user" };
        var accel = new Option<string>("--accel") { Description = "auto (probe KVM, fall back to TCG), kvm or tcg.", DefaultValueFactory = _ => "auto" };
        var qemuDevice = new Option<string[]>("--qemu-device") { Description = "Also add QEMU's own device (e.g. edu), for comparisons. Repeatable." };
        var shell = new Option<bool>("--shell") { Description = "An interactive guest shell instead of a command." };
        var iommu = new Option<bool>("--iommu") { Description = "q35 with an emulated Intel IOMMU (guest vfio-pci: MSI/MSI-X); QEMU 10.2; a --device needs --transport vfio-user." };
        var timeout = new Option<double>("--timeout") { Description = "Seconds before the guest is killed.", DefaultValueFactory = _ => 300 };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Do not stream the guest console; print only the command's output lines." };
        var command = new Argument<string[]>("command") { Description = "The guest command (after --).", Arity = ArgumentArity.ZeroOrMore };
        var qemuArg = new Option<string[]>("--qemu-arg") { Description = "An extra QEMU argument, passed as is (repeat for each word, e.g. --qemu-arg=-drive --qemu-arg=file=disk.img,if=none,id=d0)." };
        var kernelArgs = new Option<string?>("--kernel-args") { Description = "Extra guest kernel command-line arguments (e.g. pci=nomsi)." };
        var busyPoll = BusyPollOption.Create();
        var settings = new DeviceSettings();
        var vm = new Command("vm", "Boot a Linux guest with a PciKit device attached, run a command in it, and exit with its status.")
        {
            device, transport, accel, qemuDevice, qemuArg, shell, iommu, timeout, quiet, kernelArgs, busyPoll,
        };
        settings.AddTo(vm);
        vm.Arguments.Add(command);
        vm.SetAction(parse =>
        {
            string? model = parse.GetValue(device);
            var qemuDevices = parse.GetValue(qemuDevice) ?? [];
            string[] words = parse.GetValue(command) ?? [];
            bool interactive = parse.GetValue(shell);
            string[] extraQemuArgs = parse.GetValue(qemuArg) ?? [];
            if (model is null && qemuDevices.Length == 0 && extraQemuArgs.Length == 0) throw new CliUsageException("vm needs --device MODEL, --qemu-device NAME or --qemu-arg");
            if (!interactive && words.Length == 0) throw new CliUsageException("give the guest command after --, or --shell");
            if (model is null && settings.AnyGiven(parse))
                throw new CliUsageException("--image, --read-only, --no-msix and --ivshmem-server configure a --device; give one");
            if (parse.GetValue(busyPoll) is not null && parse.GetValue(transport) == "proxy")
                throw new CliUsageException("--busy-poll-us configures the vfio-user server; the proxy transport has none (drop it or use --transport vfio-user)");
            var options = new VmOptions
            {
                Transport = parse.GetValue(transport) switch
                {
                    "vfio-user" => VmTransport.VfioUser,
                    "proxy" => VmTransport.Proxy,
                    var t => throw new CliUsageException($"--transport '{t}' is not vfio-user or proxy"),
                },
                Accel = parse.GetValue(accel) switch
                {
                    "auto" => VmAccel.Auto,
                    "kvm" => VmAccel.Kvm,
                    "tcg" => VmAccel.Tcg,
                    var a => throw new CliUsageException($"--accel '{a}' is not auto, kvm or tcg"),
                },
                QemuDevices = qemuDevices,
                ExtraQemuArgs = extraQemuArgs,
                Shell = interactive,
                Iommu = parse.GetValue(iommu),
                Command = string.Join(' ', words),
                ExtraKernelArgs = parse.GetValue(kernelArgs) ?? "",
                VfioUserServer = new VfioUserServerOptions { BusyPoll = BusyPollOption.Read(parse, busyPoll) },
                Timeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
                Console = parse.GetValue(quiet) ? null : stdout,
                Progress = stderr,
            };
            // Every option is checked: now open what the device needs (a disk image, a seat on an ivshmem server).
            IDisposable? owner = null;
            var deviceOptions = settings.Read(parse, SharedMemoryAllocator.Instance) with { Iommu = options.Iommu };
            var instance = model is null ? null : settings.Create(parse, DeviceCatalog.Get(model), deviceOptions, out owner);
            using var owned = owner; // a disk image is closed, an ivshmem server left, when the guest is done
            var result = VmRunner.Run(options with { Device = instance });
            if (parse.GetValue(quiet)) stdout.Write(result.Console);
            stderr.WriteLine($"pcikit vm: guest {(result.TimedOut ? "timed out" : "finished")} in {result.Elapsed.TotalSeconds:0.00} s ({result.Accel}); command exit status {result.ExitCode}");
            return result.TimedOut ? 124 : result.ExitCode < 0 ? 125 : result.ExitCode;
        });
        return vm;
    }
}
