using System.Diagnostics;

namespace PciKit.Device;

/// <summary>Severity of a log line.</summary>
public enum PciLogLevel
{
    /// <summary>Detail.</summary>
    Debug,
    /// <summary>Normal operation.</summary>
    Information,
    /// <summary>Something from outside was wrong (a guest, a client); the device carried on.</summary>
    Warning,
    /// <summary>Something failed.</summary>
    Error,
}

/// <summary>Where PciKit writes log lines. Implementations must be thread-safe and must not block for long.</summary>
public interface IPciLog
{
    /// <summary>Writes one line.</summary>
    void Write(PciLogLevel level, string source, string message);
}

/// <summary>Ready-made logs.</summary>
public static class PciLog
{
    /// <summary>Discards everything.</summary>
    public static IPciLog Null { get; } = new NullLog();

    /// <summary>Writes lines to <paramref name="writer"/> (synchronised) at <paramref name="minimum"/> level and above.</summary>
    public static IPciLog To(TextWriter writer, PciLogLevel minimum = PciLogLevel.Information) => new WriterLog(TextWriter.Synchronized(writer), minimum);

    private sealed class NullLog : IPciLog
    {
        public void Write(PciLogLevel level, string source, string message) { }
    }

    private sealed class WriterLog(TextWriter writer, PciLogLevel minimum) : IPciLog
    {
        public void Write(PciLogLevel level, string source, string message)
        {
            if (level >= minimum) writer.WriteLine($"[{level.ToString().ToLowerInvariant()}] {source}: {message}");
        }
    }
}

/// <summary>Kinds of faults a guest or client can cause; each is rate-limited separately.</summary>
internal enum GuestErrorKind
{
    BarAccess,
    ConfigAccess,
    Dma,
    Interrupt,
    Device,
    Count,
}

/// <summary>Counters of what a device saw. Read them at any time; they only grow (until <see cref="Clear"/>).</summary>
public sealed class DeviceCounters
{
    internal long InvalidBarAccesses;
    internal long BarAccessesWhileDisabled;
    internal long InvalidConfigAccesses;
    internal long DmaRefusedBusMaster;
    internal long DmaFaults;
    internal long MessagesSent;
    internal long MessagesBlockedByBusMaster;
    internal long Resets;
    internal long LogLinesSuppressed;

    /// <summary>BAR accesses of an invalid size, alignment or offset (read all-ones / dropped).</summary>
    public long InvalidBarAccessCount => Volatile.Read(ref InvalidBarAccesses);
    /// <summary>BAR accesses while the BAR's space was not enabled (Command register, power state, ROM enable).</summary>
    public long BarAccessWhileDisabledCount => Volatile.Read(ref BarAccessesWhileDisabled);
    /// <summary>Configuration accesses outside the space or of an invalid size.</summary>
    public long InvalidConfigAccessCount => Volatile.Read(ref InvalidConfigAccesses);
    /// <summary>DMA refused because Bus Master was off.</summary>
    public long DmaRefusedBusMasterCount => Volatile.Read(ref DmaRefusedBusMaster);
    /// <summary>DMA that touched unmapped memory or had no host.</summary>
    public long DmaFaultCount => Volatile.Read(ref DmaFaults);
    /// <summary>MSI/MSI-X messages sent.</summary>
    public long MessagesSentCount => Volatile.Read(ref MessagesSent);
    /// <summary>MSI/MSI-X messages dropped because Bus Master was off.</summary>
    public long MessagesBlockedByBusMasterCount => Volatile.Read(ref MessagesBlockedByBusMaster);
    /// <summary>Resets (conventional, function-level, D3hot → D0 soft reset).</summary>
    public long ResetCount => Volatile.Read(ref Resets);
    /// <summary>Log lines not written because of rate limiting.</summary>
    public long SuppressedLogLineCount => Volatile.Read(ref LogLinesSuppressed);

    internal void Increment(ref long counter) => Interlocked.Increment(ref counter);

    /// <summary>Sets every counter to zero.</summary>
    public void Clear()
    {
        InvalidBarAccesses = BarAccessesWhileDisabled = InvalidConfigAccesses = DmaRefusedBusMaster = DmaFaults = 0;
        MessagesSent = MessagesBlockedByBusMaster = Resets = LogLinesSuppressed = 0;
    }
}

/// <summary>A token bucket per fault kind: at most <see cref="Burst"/> lines, refilled at <see cref="PerSecond"/> lines per second.</summary>
internal sealed class LogRateLimiter
{
    internal const int Burst = 10;
    internal const int PerSecond = 5;
    private readonly double[] _tokens = new double[(int)GuestErrorKind.Count];
    private readonly long[] _last = new long[(int)GuestErrorKind.Count];
    private readonly int[] _suppressed = new int[(int)GuestErrorKind.Count];

    public LogRateLimiter() => Array.Fill(_tokens, Burst);

    /// <summary>True if a line may be written now; <paramref name="suppressedBefore"/> says how many were dropped since the last one.</summary>
    public bool TryAcquire(GuestErrorKind kind, out int suppressedBefore)
    {
        int k = (int)kind;
        lock (this)
        {
            long now = Stopwatch.GetTimestamp();
            if (_last[k] != 0)
                _tokens[k] = Math.Min(Burst, _tokens[k] + (now - _last[k]) * (double)PerSecond / Stopwatch.Frequency);
            _last[k] = now;
            if (_tokens[k] >= 1)
            {
                _tokens[k] -= 1;
                suppressedBefore = _suppressed[k];
                _suppressed[k] = 0;
                return true;
            }
            _suppressed[k]++;
            suppressedBefore = 0;
            return false;
        }
    }
}
