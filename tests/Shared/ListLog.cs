using PciKit.Device;

namespace PciKit.Testing;

/// <summary>Linked into several test projects. A log that keeps its lines, each "[Level] source: message".</summary>
internal sealed class ListLog : IPciLog
{
    private readonly List<string> _lines = [];

    public IReadOnlyList<string> Lines { get { lock (_lines) return [.. _lines]; } }

    public void Write(PciLogLevel level, string source, string message)
    {
        lock (_lines) _lines.Add($"[{level}] {source}: {message}");
    }

    /// <summary>True when some line contains <paramref name="text"/>.</summary>
    public bool Contains(string text) => Lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    public override string ToString() => string.Join(Environment.NewLine, Lines);
}
