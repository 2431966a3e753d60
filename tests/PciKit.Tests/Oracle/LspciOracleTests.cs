using System.Diagnostics;
using System.Text.RegularExpressions;
using PciKit.Capabilities;
using PciKit.Config;
using PciKit.Cli.Commands;
using PciKit.Devices;
using PciKit.Host;

namespace PciKit.Tests.Oracle;

/// <summary>
/// Every built-in device's configuration space, dumped by pcikit and decoded by the real <c>lspci -F</c>, must show
/// the IDs, class, capabilities and MSI/MSI-X layout the model declares. lspci is an independent decoder: if PciKit
/// wrote a wrong byte, lspci would say so.
/// </summary>
public sealed partial class LspciOracleTests
{
    private const string Lspci = "/usr/bin/lspci";

    public static TheoryData<string> Models() => new(DeviceCatalog.Models.Select(m => m.Name));

    [Theory]
    [MemberData(nameof(Models))]
    public void Lspci_decodes_the_model_as_declared(string model)
    {
        string dump = LspciCommand.Render(model, verbosity: 0, hexLevel: 3);
        string decoded = RunLspci(dump, "-vvv", "-nn");

        using var bus = new PciHostBus();
        var device = DeviceCatalog.Get(model).Create();
        bus.Attach(device);
        var id = device.Identity;

        var first = decoded.Split('\n')[0];
        Assert.Contains($"[{id.ClassCode >> 8:x4}]", first);
        Assert.Contains($"[{id.VendorId:x4}:{id.DeviceId:x4}]", first);
        Assert.Contains($"(rev {id.Revision:x2})", first);
        Assert.Contains($"[{id.SubsystemVendorId:x4}:{id.SubsystemId:x4}]", decoded);
        if (id.InterruptPin == PciInterruptPin.None) Assert.DoesNotContain("Interrupt: pin", decoded);
        else Assert.Contains($"Interrupt: pin {(char)('A' + (int)id.InterruptPin - 1)}", decoded);

        var seen = CapabilityLine().Matches(decoded).Select(m => (Offset: Convert.ToInt32(m.Groups[1].Value, 16), Text: m.Groups[3].Value)).ToList();
        var expected = device.Capabilities.Select(c => (c.Offset, Name: NameOf(c)))
            .Concat(device.ExtendedCapabilities.Select(c => (c.Offset, Name: c is DeviceSerialNumberCapability ? "Device Serial Number" : "?")))
            .ToList();
        Assert.Equal(expected.Count, seen.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Offset, seen[i].Offset);
            Assert.StartsWith(expected[i].Name, seen[i].Text);
        }

        if (device.Msi is { } msi)
            Assert.Contains($"MSI: Enable- Count=1/{msi.Vectors} Maskable{(msi.PerVectorMaskCapable ? '+' : '-')} 64bit{(msi.Is64BitCapable ? '+' : '-')}", decoded);
        if (device.MsiX is { } msix)
        {
            Assert.Contains($"MSI-X: Enable- Count={msix.Vectors} Masked-", decoded);
            Assert.Contains($"Vector table: BAR={msix.TableBar} offset={msix.TableOffset:x8}", decoded);
            Assert.Contains($"PBA: BAR={msix.PbaBar} offset={msix.PbaOffset:x8}", decoded);
        }
        if (id.VendorId == 0x1af4)
        {
            // virtio structure capabilities: lspci decodes cfg_type, BAR, offset and length (and the notify multiplier).
            string[] types = ["<unknown>", "CommonCfg", "Notify", "ISR", "DeviceCfg"];
            foreach (var cap in device.Capabilities.Where(c => c.Id == (byte)PciCapabilityId.VendorSpecific))
            {
                var cfg = device.Config;
                byte type = cfg.Get8(cap.Offset + 3);
                Assert.Contains($"Capabilities: [{cap.Offset:x2}] Vendor Specific Information: VirtIO: {types[type < types.Length ? type : 0]}", decoded);
                string details = $"BAR={cfg.Get8(cap.Offset + 4)} offset={cfg.Get32(cap.Offset + 8):x8} size={cfg.Get32(cap.Offset + 12):x8}";
                if (type == 2) details += $" multiplier={cfg.Get32(cap.Offset + 16):x8}";
                Assert.Contains(details, decoded);
            }
        }
        if (device.ExtendedCapabilities.OfType<DeviceSerialNumberCapability>().FirstOrDefault() is { } dsn)
            Assert.Contains("Device Serial Number " + string.Join("-", BitConverter.GetBytes(dsn.SerialNumber).Reverse().Select(b => b.ToString("x2"))), decoded);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Lspci_reads_back_exactly_the_bytes_pcikit_dumped(string model)
    {
        string dump = LspciCommand.Render(model, verbosity: 0, hexLevel: 3);
        string echoed = RunLspci(dump, "-xxxx");
        Assert.Equal(Rows(dump), Rows(echoed));

        static string[] Rows(string text) => text.Split('\n').Where(l => Regex.IsMatch(l, "^[0-9a-f]{2,3}: ")).ToArray();
    }

    private static string NameOf(PciCapability c) => c switch
    {
        PowerManagementCapability => "Power Management",
        MsiXCapability => "MSI-X",
        MsiCapability => "MSI",
        PciExpressCapability => "Express",
        _ when c.Id == (byte)PciCapabilityId.VendorSpecific => "Vendor Specific Information",
        _ => c.GetType().Name,
    };

    private static string RunLspci(string dump, params string[] args)
    {
        Assert.True(File.Exists(Lspci), $"{Lspci} is missing: the lspci oracle needs pciutils (apt-get install pciutils); the README's test command installs it.");
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, dump);
            var psi = new ProcessStartInfo(Lspci) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in args) psi.ArgumentList.Add(a);
            psi.ArgumentList.Add("-F");
            psi.ArgumentList.Add(file);
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.Equal(0, p.ExitCode);
            Assert.False(string.IsNullOrWhiteSpace(output), "lspci decoded nothing: the dump header line must be 'BB:DD.F ' with a trailing space.");
            return output;
        }
        finally
        {
            File.Delete(file);
        }
    }

    [GeneratedRegex(@"Capabilities: \[([0-9a-f]+)( v\d+)?\] (.*)")]
    private static partial Regex CapabilityLine();
}
