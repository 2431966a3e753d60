using System.Diagnostics;

namespace PciKit.Vm;

/// <summary>
/// Finds what a run needs, building it on first use: the guest image (<c>guest/build-guest</c>), Debian's QEMU 7.2,
/// the vfio-user QEMU (<c>scripts/build-qemu</c>), and which accelerator works (<c>guest/probe-accel</c>). The scripts
/// cache their results outside the checkout, so only the first run pays.
/// </summary>
public static class VmTools
{
    /// <summary>Debian's packaged QEMU (7.2 on bookworm), used for the proxy transport and QEMU's own devices.</summary>
    public const string SystemQemu = "/usr/bin/qemu-system-x86_64";

    private static readonly Lock Gate = new();
    private static string? _guest, _vfioUserQemu, _accel;

    /// <summary>
    /// The PciKit checkout (a directory with <c>guest/build-guest</c> and <c>scripts/build-qemu</c>): <c>$PCIKIT_REPO</c>,
    /// else the first parent of this assembly or of the current directory that has them.
    /// </summary>
    public static string RepositoryRoot()
    {
        if (Environment.GetEnvironmentVariable("PCIKIT_REPO") is { Length: > 0 } env)
        {
            if (IsRepo(env)) return env;
            throw new InvalidOperationException($"PCIKIT_REPO={env} has no guest/build-guest and scripts/build-qemu.");
        }
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (IsRepo(dir.FullName)) return dir.FullName;
        throw new InvalidOperationException("Cannot find the PciKit checkout (guest/build-guest, scripts/build-qemu); run from the checkout or set PCIKIT_REPO.");

        static bool IsRepo(string d) => File.Exists(Path.Combine(d, "guest", "build-guest")) && File.Exists(Path.Combine(d, "scripts", "build-qemu"));
    }

    /// <summary>The guest image directory (vmlinux, initramfs.cpio.gz), built on first use.</summary>
    public static string GuestImage(TextWriter? progress = null)
    {
        using var _ = Gate.EnterScope();
        return _guest ??= RunScript(Path.Combine(RepositoryRoot(), "guest", "build-guest"), [], progress, "build the guest image");
    }

    /// <summary>A QEMU with the vfio-user client, built from Debian's source on first use (3–8 minutes).</summary>
    public static string VfioUserQemu(TextWriter? progress = null)
    {
        using var _ = Gate.EnterScope();
        return _vfioUserQemu ??= RunScript(Path.Combine(RepositoryRoot(), "scripts", "build-qemu"), [], progress, "build a vfio-user QEMU");
    }

    /// <summary>Debian's QEMU 7.2; throws with the install command when missing.</summary>
    public static string DebianQemu() => File.Exists(SystemQemu)
        ? SystemQemu
        : throw new InvalidOperationException($"{SystemQemu} is missing: apt-get install qemu-system-x86 (the README's test command installs it).");

    /// <summary>The accelerator the guest boots with here: "kvm" when a 3-second KVM boot probe succeeds, else "tcg".</summary>
    public static VmAccel ProbeAccel(TextWriter? progress = null)
    {
        string image = GuestImage(progress);
        using var _ = Gate.EnterScope();
        _accel ??= RunScript(Path.Combine(RepositoryRoot(), "guest", "probe-accel"), [image], progress, "probe KVM");
        return _accel == "kvm" ? VmAccel.Kvm : VmAccel.Tcg;
    }

    /// <summary>Runs a script; its last stdout line is the answer, stderr goes to <paramref name="progress"/>.</summary>
    private static string RunScript(string path, IEnumerable<string> args, TextWriter? progress, string what)
    {
        var psi = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"{path} did not start.");
        var tail = new Queue<string>();
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            progress?.WriteLine(e.Data);
            lock (tail) { tail.Enqueue(e.Data); if (tail.Count > 20) tail.Dequeue(); }
        };
        p.BeginErrorReadLine();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        string answer = output.TrimEnd('\n').Split('\n')[^1].Trim();
        if (p.ExitCode != 0 || answer.Length == 0)
        {
            string last;
            lock (tail) last = string.Join(Environment.NewLine, tail);
            throw new InvalidOperationException($"Could not {what}: {Path.GetFileName(path)} exited {p.ExitCode}.{Environment.NewLine}{last}");
        }
        return answer;
    }
}
