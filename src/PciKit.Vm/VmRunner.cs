using System.Diagnostics;
using System.Text;
using PciKit.Linux;
using PciKit.QemuProxy;
using PciKit.VfioUser.Server;

namespace PciKit.Vm;

/// <summary>
/// Boots the test guest under QEMU with a PciKit device attached (served by this process over vfio-user or QEMU 7.2's
/// proxy), runs a shell command in it, streams the console and returns the command's exit status.
/// </summary>
public static class VmRunner
{
    private const string KernelArgs = "console=ttyS0 quiet panic=-1 mitigations=off nokaslr no_timer_check i8042.noaux i8042.nokbd i8042.nopnp 8250.nr_uarts=1 cryptomgr.notests";
    private const string ExitMarker = "PCIKIT-EXIT=";

    /// <summary>Runs the guest; blocks until it powers off, is killed after the timeout, or QEMU fails.</summary>
    public static VmResult Run(VmOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Device is null && options.QemuDevices.Count == 0 && options.ExtraQemuArgs.Count == 0 && !options.Shell && options.Command == "true")
            options.Progress?.WriteLine("pcikit vm: no device attached; booting the bare guest");
        string image = VmTools.GuestImage(options.Progress);
        var accel = options.Accel == VmAccel.Auto ? VmTools.ProbeAccel(options.Progress) : options.Accel;
        bool vfioUser = options.Device is not null && options.Transport == VmTransport.VfioUser;
        if (options.Iommu && options.Device is not null && !vfioUser) throw new ArgumentException("--iommu needs the vfio-user transport (QEMU 7.2's proxy has no IOMMU support).");
        string qemu = vfioUser || options.Iommu ? VmTools.VfioUserQemu(options.Progress) : VmTools.DebianQemu();

        using var scratch = new ScratchDirectory();
        var args = new List<string>
        {
            "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio", "-monitor", "none",
            "-m", $"{options.MemoryMiB}M", "-smp", "1",
            "-object", $"memory-backend-memfd,id=mem,size={options.MemoryMiB}M,share=on",
            "-machine", (options.Iommu ? "q35,kernel-irqchip=split" : "pc") + ",memory-backend=mem",
            "-kernel", Path.Combine(image, "vmlinux"), "-initrd", Path.Combine(image, "initramfs.cpio.gz"),
        };
        if (!options.Iommu) args.AddRange(["-bios", "/usr/share/qemu/qboot.rom"]);
        if (qemu != VmTools.SystemQemu) args.AddRange(["-L", "/usr/share/seabios", "-L", "/usr/share/qemu"]);
        args.AddRange(accel == VmAccel.Kvm ? ["-accel", "kvm", "-cpu", "host"] : ["-accel", "tcg"]);
        if (options.Iommu) args.AddRange(["-device", "intel-iommu,caching-mode=on,intremap=off"]);
        foreach (var d in options.QemuDevices) args.AddRange(["-device", d]);
        args.AddRange(options.ExtraQemuArgs);

        var append = new StringBuilder(KernelArgs);
        if (options.Iommu) append.Append(" intel_iommu=on");
        if (options.ExtraKernelArgs.Length > 0) append.Append(' ').Append(options.ExtraKernelArgs);
        if (options.Shell) append.Append(" pcikit.shell=1");
        else
        {
            string b64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(options.Command.Replace("\r\n", "\n")));
            if (b64.Length <= 1500) append.Append(" pcikit.cmd=").Append(b64);
            else
            {
                string file = Path.Combine(scratch.Path, "cmd.sh");
                File.WriteAllText(file, options.Command);
                args.AddRange(["-fw_cfg", $"name=opt/pcikit/cmd,file={file}"]);
            }
        }
        args.AddRange(["-append", append.ToString()]);

        VfioUserServer? server = null;
        QemuProxyLauncher? launcher = null;
        QemuProxyDevice? proxy = null;
        try
        {
            if (options.Device is { } device)
            {
                if (vfioUser)
                {
                    string socket = Path.Combine(scratch.Path, "device.sock");
                    server = VfioUserServer.Start(device, socket, options.VfioUserServer);
                    args.AddRange(["-device", $"{{\"driver\":\"vfio-user-pci\",\"socket\":{{\"type\":\"unix\",\"path\":\"{socket}\"}}}}"]);
                }
                else
                {
                    QemuProxyDevice.EnsureSupported(device);
                    launcher = QemuProxyLauncher.Create("pcikit0");
                    args.AddRange(launcher.QemuArguments);
                    proxy = launcher.Serve(device);
                }
            }
            return RunQemu(qemu, args, options, accel, launcher);
        }
        finally
        {
            proxy?.Dispose();
            launcher?.Dispose();
            server?.Dispose();
        }
    }

    private static VmResult RunQemu(string qemu, List<string> args, VmOptions options, VmAccel accel, QemuProxyLauncher? launcher)
    {
        var psi = new ProcessStartInfo(qemu)
        {
            UseShellExecute = false,
            RedirectStandardOutput = !options.Shell,
            RedirectStandardError = true,
            RedirectStandardInput = !options.Shell,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        options.Progress?.WriteLine("pcikit vm: " + qemu + " " + string.Join(' ', args.Select(a => a.Contains(' ') ? $"'{a}'" : a)));
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"{qemu} did not start.");
        launcher?.CloseQemuEnd(); // QEMU holds its end now
        var console = new StringBuilder();
        var stderr = new StringBuilder();
        int exit = -1;
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginErrorReadLine();
        Task reader = Task.CompletedTask;
        if (!options.Shell)
        {
            process.StandardInput.Close();
            reader = Task.Run(() =>
            {
                string? line;
                while ((line = process.StandardOutput.ReadLine()) is not null)
                {
                    lock (console) console.AppendLine(line);
                    options.Console?.WriteLine(line);
                    int at = line.IndexOf(ExitMarker, StringComparison.Ordinal);
                    if (at >= 0 && int.TryParse(line.AsSpan(at + ExitMarker.Length).Trim(), out int status)) exit = status;
                }
            });
        }
        bool timedOut = !process.WaitForExit(options.Timeout);
        if (timedOut)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            process.WaitForExit();
        }
        reader.Wait(TimeSpan.FromSeconds(5));
        process.WaitForExit();
        clock.Stop();
        string err;
        lock (stderr) err = stderr.ToString();
        if (err.Length > 0) options.Progress?.Write("qemu: " + err);
        string text;
        lock (console) text = console.ToString();
        if (exit < 0 && !options.Shell && !timedOut && process.ExitCode != 0)
            text += $"{Environment.NewLine}[qemu exited {process.ExitCode}: {err.Trim()}]";
        return new VmResult(options.Shell ? process.ExitCode : exit, text, clock.Elapsed, timedOut, process.ExitCode, accel);
    }

    private sealed class ScratchDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("pcikit-vm-").FullName;
        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }
    }
}
