using System.Runtime.Versioning;

[assembly: SupportedOSPlatform("linux")]

namespace PciKit.Linux.Tests;

/// <summary>Tests that count process-wide descriptors run alone, after the parallel ones.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "serial (fd counting)";
}

internal static class TestSupport
{
    internal static bool IsOpen(int fd) => File.Exists($"/proc/self/fd/{fd}") || Directory.Exists($"/proc/self/fd/{fd}");

    internal static int RawFd(SafeFd fd) => (int)fd.DangerousGetHandle();
}

/// <summary>A short private directory for socket paths (sockaddr_un holds 107 bytes).</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = Directory.CreateTempSubdirectory("pk").FullName;
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
