using System.Diagnostics;
using System.Text;
using PciKit.Inspection;

namespace PciKit.Tests.Inspection;

/// <summary>Runs the real <c>lspci -F</c> (pciutils) on a dump, as the reference for the formatter.</summary>
internal static class LspciOracle
{
    internal const string LspciPath = "/usr/bin/lspci";
    internal const string IdsPath = "/usr/share/misc/pci.ids";

    private static readonly Lazy<PciIdDatabase> LazyNames = new(() =>
    {
        RequireTools();
        using var reader = new StreamReader(IdsPath);
        return PciIdDatabase.Parse(reader);
    });

    internal static PciIdDatabase Names => LazyNames.Value;

    internal static void RequireTools()
    {
        if (!File.Exists(LspciPath) || !File.Exists(IdsPath))
        {
            Assert.Fail($"{LspciPath} or {IdsPath} is missing: the lspci oracle tests need pciutils. Run: apt-get install pciutils");
        }
    }

    /// <summary>The dump text <c>lspci -F</c> reads: header line, hex rows, blank line.</summary>
    internal static string Dump(string slot, ReadOnlySpan<byte> config)
    {
        var sb = new StringBuilder(slot).Append(" \n");
        for (int row = 0; row < config.Length; row += 16)
        {
            sb.Append($"{row:x2}:");
            for (int i = row; i < Math.Min(row + 16, config.Length); i++)
            {
                sb.Append($" {config[i]:x2}");
            }

            sb.Append('\n');
        }

        return sb.Append('\n').ToString();
    }

    /// <summary>Runs lspci with <paramref name="flags"/> on <paramref name="dumpText"/> and returns its standard output.</summary>
    internal static string Run(string dumpText, params string[] flags)
    {
        RequireTools();
        string file = Path.Combine(Path.GetTempPath(), $"pcikit-lspci-{Guid.NewGuid():N}.txt");
        File.WriteAllText(file, dumpText);
        try
        {
            var psi = new ProcessStartInfo(LspciPath)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string flag in flags)
            {
                psi.ArgumentList.Add(flag);
            }

            psi.ArgumentList.Add("-i");
            psi.ArgumentList.Add(IdsPath);
            psi.ArgumentList.Add("-F");
            psi.ArgumentList.Add(file);
            using Process p = Process.Start(psi) ?? throw new InvalidOperationException("lspci did not start");
            Task<string> stderr = p.StandardError.ReadToEndAsync();
            string stdout = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            _ = stderr.Result; // "Unable to load libkmod resources" noise on machines without modules.
            Assert.True(p.ExitCode == 0, $"lspci {string.Join(' ', flags)} exited with {p.ExitCode}");
            return stdout;
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>lspci flags for a verbosity and -nn choice.</summary>
    internal static string[] Flags(int verbosity, bool numeric)
    {
        var flags = new List<string>();
        if (verbosity > 0)
        {
            flags.Add("-" + new string('v', verbosity));
        }

        if (numeric)
        {
            flags.Add("-nn");
        }

        return [.. flags];
    }

    /// <summary>Asserts that PciKit and lspci print the same text, reporting the first differing line.</summary>
    internal static void AssertSameText(string expected, string actual)
    {
        string[] e = expected.Split('\n'), a = actual.Split('\n');
        for (int i = 0; i < Math.Max(e.Length, a.Length); i++)
        {
            string el = i < e.Length ? e[i] : "<missing>", al = i < a.Length ? a[i] : "<missing>";
            Assert.True(el == al, $"line {i + 1} differs\n lspci : {el}\n PciKit: {al}\n--- lspci output ---\n{expected}");
        }
    }
}
