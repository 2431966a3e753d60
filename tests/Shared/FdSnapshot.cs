namespace PciKit.Testing;

/// <summary>
/// Linked into several test projects. This process's open descriptors and what they point at (readlink of /proc/self/fd/N), so that a test that finds the
/// count changed can say which descriptors appeared or vanished.
/// </summary>
internal static class FdSnapshot
{
    /// <summary>
    /// The baseline a leak test compares against: the open descriptors once their number holds still. Finalizers of
    /// handles other tests abandoned have run, and two counts 200 ms apart agree (a thread of an earlier test may open
    /// and close a descriptor or two meanwhile; a baseline taken during that would never be reached again). Gives up
    /// waiting after 5 s.
    /// </summary>
    public static FdBaseline Settle()
    {
        var fds = Collected();
        for (var deadline = DateTime.UtcNow.AddSeconds(5); DateTime.UtcNow < deadline;)
        {
            Thread.Sleep(200);
            var again = Collected();
            if (again.Count == fds.Count) break;
            fds = again;
        }

        return new FdBaseline(fds);
    }

    /// <summary>
    /// Fails, naming the descriptors that differ, unless the count comes back to the baseline's within 5 s and stays
    /// there for a second count 100 ms later. The runtime and the test host open and close descriptors of their own at
    /// moments no test controls (a count once caught one for an instant); a descriptor the code under test leaked stays,
    /// and never lets the count come back.
    /// </summary>
    public static void AssertReturnsTo(FdBaseline baseline)
    {
        if (ReturnsTo(baseline.Count)) return;
        var now = WithoutAssemblies(Take());
        throw new Xunit.Sdk.XunitException(
            $"{now.Count} descriptors open, {baseline.Count} before: {Difference(baseline.Descriptors, now)}");
    }

    /// <summary>True once two counts 100 ms apart both equal <paramref name="count"/>; false if that has not happened within 5 s.</summary>
    private static bool ReturnsTo(int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (true)
        {
            if (Collected().Count == count)
            {
                Thread.Sleep(100);
                if (Collected().Count == count) return true;
            }

            if (DateTime.UtcNow >= deadline) return false;
            Thread.Sleep(20);
        }
    }

    /// <summary>
    /// Open descriptors after a full collection and the finalizers it queued, without the runtime's own open assembly
    /// files (<c>*.dll</c>): the runtime loads assemblies lazily (the test host once loaded Microsoft.Win32.Registry.dll
    /// in the middle of a count, two descriptors that stay), and no code under test opens one.
    /// </summary>
    private static Dictionary<int, string> Collected()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return WithoutAssemblies(Take());
    }

    /// <summary>Every open descriptor and its readlink target, right now.</summary>
    public static Dictionary<int, string> Take()
    {
        var fds = new Dictionary<int, string>();
        foreach (string path in Directory.GetFiles("/proc/self/fd"))
        {
            if (!int.TryParse(Path.GetFileName(path), out int fd)) continue;
            string target;
            try { target = new FileInfo(path).LinkTarget ?? "?"; }
            catch (IOException) { continue; } // closed meanwhile (the directory's own descriptor, among others)
            fds[fd] = target;
        }

        return fds;
    }

    /// <summary>"+N → target" for each descriptor opened since <paramref name="before"/>, "-N → target" for each closed.</summary>
    private static string Difference(Dictionary<int, string> before, Dictionary<int, string> after)
    {
        var lines = new List<string>();
        foreach (var (fd, target) in after)
        {
            if (!before.TryGetValue(fd, out string? old) || old != target) lines.Add($"+{fd} → {target}");
        }

        foreach (var (fd, target) in before)
        {
            if (!after.TryGetValue(fd, out string? now) || now != target) lines.Add($"-{fd} → {target}");
        }

        return lines.Count == 0 ? "(the same descriptors)" : string.Join("; ", lines);
    }

    /// <summary>An assembly file the runtime holds open ("(deleted)" once a rebuild replaced it).</summary>
    private static bool IsAssembly(string target) =>
        target.EndsWith(".dll", StringComparison.Ordinal) || target.EndsWith(".dll (deleted)", StringComparison.Ordinal);

    private static Dictionary<int, string> WithoutAssemblies(Dictionary<int, string> fds) =>
        fds.Where(kv => !IsAssembly(kv.Value)).ToDictionary(kv => kv.Key, kv => kv.Value);
}

/// <summary>The descriptors open when a leak test began (<see cref="FdSnapshot.Settle"/>), assembly files left out.</summary>
internal sealed record FdBaseline(Dictionary<int, string> Descriptors)
{
    public int Count => Descriptors.Count;
}
