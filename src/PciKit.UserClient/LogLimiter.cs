using System.Diagnostics;
using PciKit.Device;

namespace PciKit.UserClient;

/// <summary>Writes client faults to a log at most <c>Burst</c> lines at once, refilled at <c>PerSecond</c> (a token bucket); the rest are counted.</summary>
internal sealed class LogLimiter(IPciLog? log, string source)
{
    private const int Burst = 10;
    private const int PerSecond = 5;
    private readonly Lock _lock = new();
    private double _tokens = Burst;
    private long _last;
    private int _suppressed;

    public void Warn(string message)
    {
        if (log is null) return;
        int suppressed;
        using (_lock.EnterScope())
        {
            long now = Stopwatch.GetTimestamp();
            if (_last != 0) _tokens = Math.Min(Burst, _tokens + (now - _last) * (double)PerSecond / Stopwatch.Frequency);
            _last = now;
            if (_tokens < 1) { _suppressed++; return; }
            _tokens -= 1;
            suppressed = _suppressed;
            _suppressed = 0;
        }
        log.Write(PciLogLevel.Warning, source, suppressed > 0 ? $"{message} ({suppressed} similar lines suppressed)" : message);
    }
}
