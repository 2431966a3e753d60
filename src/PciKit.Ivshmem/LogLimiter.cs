using System.Diagnostics;
using PciKit.Device;

namespace PciKit.Ivshmem;

/// <summary>Token bucket for warnings caused by peers or servers (burst 10, 5 per second), with a suppressed-lines note.</summary>
internal sealed class LogLimiter(IPciLog log, string source)
{
    private const int Burst = 10;
    private const double PerSecond = 5;
    private readonly Lock _lock = new();
    private double _tokens = Burst;
    private long _last = Stopwatch.GetTimestamp();
    private int _suppressed;

    internal void Info(string message) => log.Write(PciLogLevel.Information, source, message);

    internal void Warn(string message)
    {
        int suppressed;
        lock (_lock)
        {
            long now = Stopwatch.GetTimestamp();
            _tokens = Math.Min(Burst, _tokens + (Stopwatch.GetElapsedTime(_last, now).TotalSeconds * PerSecond));
            _last = now;
            if (_tokens < 1)
            {
                _suppressed++;
                return;
            }

            _tokens--;
            suppressed = _suppressed;
            _suppressed = 0;
        }

        log.Write(PciLogLevel.Warning, source, suppressed == 0 ? message : $"{message} ({suppressed} similar lines suppressed)");
    }
}
