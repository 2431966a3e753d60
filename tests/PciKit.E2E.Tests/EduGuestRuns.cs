using System.Text.RegularExpressions;
using PciKit.Devices.Edu;
using PciKit.Vm;

namespace PciKit.E2E.Tests;

/// <summary>
/// One guest boot per variant, shared by the tests of <see cref="EduEndToEndTests"/>: PciKit's edu over vfio-user
/// (QEMU 10.2), PciKit's edu over QEMU 7.2's proxy, and QEMU's own built-in edu as the differential oracle.
/// </summary>
public sealed class EduGuestRuns
{
    public EduGuestRuns()
    {
        VfioUser = Boot(new VmOptions { Device = new EduDevice(), Transport = VmTransport.VfioUser, Command = GuestScripts.Edu(intx: true) });
        Proxy = Boot(new VmOptions { Device = new EduDevice(), Transport = VmTransport.Proxy, Command = GuestScripts.Edu(intx: false) });
        Qemu = Boot(new VmOptions { QemuDevices = ["edu"], Command = GuestScripts.Edu(intx: true) });
    }

    public GuestRun VfioUser { get; }
    public GuestRun Proxy { get; }
    public GuestRun Qemu { get; }

    private static GuestRun Boot(VmOptions options)
    {
        var progress = new StringWriter();
        var result = VmRunner.Run(options with { Accel = VmAccel.Auto, Timeout = TimeSpan.FromMinutes(3), Progress = progress });
        return new GuestRun(result, progress.ToString());
    }
}

/// <summary>A finished guest run and its tagged lines (<c>KEY=value</c>).</summary>
public sealed partial class GuestRun(VmResult result, string progress)
{
    public VmResult Result { get; } = result;
    public string Progress { get; } = progress;

    public string? this[string key] => Tag(Result.Console, key);

    /// <summary>The value of the first <c>KEY=value</c> line of a guest console, or null.</summary>
    public static string? Tag(string console, string key) =>
        Regex.Match(console, $"^{Regex.Escape(key)}=(.*)$", RegexOptions.Multiline) is { Success: true } m ? m.Groups[1].Value.Trim() : null;

    /// <summary>The config dump in lspci -F format.</summary>
    public string ConfigDump()
    {
        var lines = Result.Console.Split('\n').SkipWhile(l => !l.StartsWith("CONFIG-BEGIN", StringComparison.Ordinal)).Skip(1)
            .TakeWhile(l => !l.StartsWith("CONFIG-END", StringComparison.Ordinal)).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        return "00:02.0 \n" + string.Join("\n", lines.Select((l, i) => $"{i * 16:x2}: {l}")) + "\n";
    }

    public override string ToString() => $"exit {Result.ExitCode}, qemu {Result.QemuExitCode}, {Result.Elapsed.TotalSeconds:0.0} s\n{Result.Console}\n{Progress}";
}
