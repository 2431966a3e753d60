using System.Diagnostics;
using System.Globalization;

namespace PciKit.IvshmemBench;

internal readonly record struct Latency(double P50Us, double P99Us, double MaxUs, double RoundTripsPerSecond, int Count)
{
    public static Latency Of(List<long> ticks, double seconds)
    {
        var sorted = ticks.ToArray();
        Array.Sort(sorted);
        double us = 1e6 / Stopwatch.Frequency;
        int n = sorted.Length;
        return new Latency(sorted[n / 2] * us, sorted[Math.Min(n - 1, (int)(n * 0.99))] * us, sorted[n - 1] * us, n / seconds, n);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"p50 {P50Us,7:F2} µs  p99 {P99Us,7:F2} µs  max {MaxUs,8:F1} µs  {RoundTripsPerSecond,8:F0} rt/s  (n={Count})");
}
