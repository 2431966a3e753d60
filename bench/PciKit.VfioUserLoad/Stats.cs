using System.Diagnostics;
using System.Globalization;

namespace PciKit.VfioUserLoad;

internal static class Stats
{
    public readonly record struct Latency(double P50Us, double P99Us, double P999Us, double MaxUs, double OpsPerSecond)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"p50_us={P50Us:F2} p99_us={P99Us:F2} p999_us={P999Us:F2} max_us={MaxUs:F1} ops={OpsPerSecond:F0}");
    }

    public static Latency Summarize(long[] ticks, long elapsedTicks)
    {
        Array.Sort(ticks);
        double us = 1e6 / Stopwatch.Frequency;
        int n = ticks.Length;
        return new Latency(ticks[n / 2] * us, ticks[(int)(n * 0.99)] * us, ticks[(int)(n * 0.999)] * us, ticks[n - 1] * us,
            n / (elapsedTicks / (double)Stopwatch.Frequency));
    }

    /// <summary>Parses "key=value key=value" lines printed by the modes.</summary>
    public static Dictionary<string, double> Parse(string line)
    {
        var d = new Dictionary<string, double>();
        foreach (var part in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=');
            if (eq > 0 && double.TryParse(part[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) d[part[..eq]] = v;
        }
        return d;
    }

    public static double Median(IEnumerable<double> values)
    {
        var a = values.OrderBy(v => v).ToArray();
        if (a.Length == 0) return double.NaN;
        return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }
}
