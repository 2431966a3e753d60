using System.Diagnostics;

namespace PciKit.E2E.Tests;

/// <summary>
/// A stock Linux guest (Debian 6.1) under QEMU sees PciKit's edu exactly as it sees QEMU's own edu: same
/// enumeration, register side effects, DMA both ways, and (vfio-user) INTx through uio_pci_generic.
/// </summary>
public sealed class EduEndToEndTests(EduGuestRuns runs) : IClassFixture<EduGuestRuns>
{
    public static TheoryData<string> PciKitVariants() => new() { "vfio-user", "proxy" };

    private GuestRun Variant(string name) => name == "vfio-user" ? runs.VfioUser : runs.Proxy;

    [Theory]
    [MemberData(nameof(PciKitVariants))]
    public void The_guest_command_ran_to_completion(string variant)
    {
        var run = Variant(variant);
        Assert.True(run.Result.ExitCode == 0, run.ToString());
        Assert.Equal(0, runs.Qemu.Result.ExitCode);
    }

    [Theory]
    [MemberData(nameof(PciKitVariants))]
    public void Enumeration_matches_qemus_edu_as_decoded_by_lspci(string variant)
    {
        var ours = Decode(Variant(variant).ConfigDump());
        var theirs = Decode(runs.Qemu.ConfigDump());
        Assert.Contains("[00ff]", ours[0]);
        Assert.Contains("[1234:11e8] (rev 10)", ours[0]);
        Assert.Equal(theirs[0], ours[0]);
        Assert.Equal(Line(theirs, "Subsystem:"), Line(ours, "Subsystem:"));
        Assert.Equal(Line(theirs, "Capabilities:"), Line(ours, "Capabilities:"));
        Assert.StartsWith("Capabilities: [40] MSI: Enable- Count=1/1 Maskable- 64bit+", Line(ours, "Capabilities:"));
        Assert.Contains("Interrupt: pin A", Line(ours, "Interrupt:"));
        // BAR0: 1 MiB, 32-bit non-prefetchable memory (sysfs resource: start end flags).
        Assert.Equal(BarSizeAndFlags(runs.Qemu["RESOURCE0"]), BarSizeAndFlags(Variant(variant)["RESOURCE0"]));
        Assert.Equal((1UL << 20, 0x40200UL), BarSizeAndFlags(Variant(variant)["RESOURCE0"]));
    }

    [Theory]
    [MemberData(nameof(PciKitVariants))]
    public void Registers_behave_like_qemus_edu(string variant)
    {
        var run = Variant(variant);
        Assert.Equal("0x010000ed", run["ID"]);
        Assert.Equal(runs.Qemu["ID"], run["ID"]);
        Assert.Equal("0xedcba987", run["LIVE"]);
        Assert.Equal(runs.Qemu["LIVE"], run["LIVE"]);
        Assert.Equal("0x00375f00", run["FACT"]); // 10! after the computing bit cleared
        Assert.Equal(runs.Qemu["FACT"], run["FACT"]);
    }

    [Theory]
    [MemberData(nameof(PciKitVariants))]
    public void Dma_both_ways_into_a_guest_buffer_is_byte_exact(string variant)
    {
        var run = Variant(variant);
        Assert.Equal("ok", run["DMA-TO-DEVICE"]);
        Assert.Equal("ok", run["DMA-FROM-DEVICE"]);
        Assert.Equal("ok", run["DMA-CHECK"]);
        Assert.Equal(runs.Qemu["DMA-CHECK"], run["DMA-CHECK"]);
    }

    [Fact]
    public void Intx_reaches_uio_pci_generic_over_vfio_user_and_the_status_bit_tracks_the_line()
    {
        Assert.Equal("0 10", runs.VfioUser["INTX"]);
        Assert.Equal(runs.Qemu["INTX"], runs.VfioUser["INTX"]);
        Assert.True((Convert.ToUInt32(runs.VfioUser["STATUS-DURING"], 16) & 0x8) != 0, runs.VfioUser.ToString());
        Assert.Equal(0u, Convert.ToUInt32(runs.VfioUser["STATUS-AFTER"], 16) & 0x8);
        Assert.Equal(runs.Qemu["STATUS-DURING"], runs.VfioUser["STATUS-DURING"]);
    }

    private static (ulong Size, ulong Flags) BarSizeAndFlags(string? line)
    {
        Assert.NotNull(line);
        var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(v => Convert.ToUInt64(v, 16)).ToArray();
        return (f[1] - f[0] + 1, f[2]);
    }

    private static string Line(string[] lines, string prefix) => lines.FirstOrDefault(l => l.TrimStart().StartsWith(prefix, StringComparison.Ordinal))?.Trim() ?? $"(no {prefix})";

    private static string[] Decode(string dump)
    {
        Assert.True(File.Exists("/usr/bin/lspci"), "lspci is missing: apt-get install pciutils (the README's test command installs it).");
        string file = Path.GetTempFileName();
        File.WriteAllText(file, dump);
        try
        {
            var psi = new ProcessStartInfo("/usr/bin/lspci") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "-vvv", "-nn", "-F", file }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            p.StandardError.ReadToEnd();
            p.WaitForExit();
            return output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
