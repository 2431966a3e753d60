namespace PciKit.Testing;

/// <summary>
/// Linked into several test projects. This process's open descriptors and what they point at (readlink of /proc/self/fd/N), so that a test that finds the
/// count changed can say which descriptors appeared or vanished.
/// </summary>
internal static class FdSnapshot
{
    /// <summary>
    /// The number of open descriptors once it holds still: finalizers of handles other tests abandoned have run, and
    /// two counts 200 ms apart agree (a thread of an earlier test may open and close a descriptor or two meanwhile; a
    /// baseline taken during that would never be reached again). Gives up waiting after 5 s.
    /// </summary>
    public static int SettledCount()
    {
        int count = Count();
        for (var deadline = DateTime.UtcNow.AddSeconds(5); DateTime.UtcNow < deadline;)
        {
            Thread.Sleep(200);
            int again = Count();
            if (again == count) break;
            count = again;
        }

        return count;
    }

    /// <summary>
    /// Open descriptors after a full collection and the finalizers it queued, not counting the runtime's own open
    /// assembly files (<c>*.dll</c>): the runtime loads assemblies lazily (the test host once loaded
    /// Microsoft.Win32.Registry.dll in the middle of a count, two descriptors that stay), and no code under test opens one.
    /// </summary>
    public static int Count()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return CountNow();
    }

    /// <summary>
    /// Waits up to 5 s for <see cref="Count"/> to return to <paramref name="count"/>, then counts once more: true when it
    /// is there. Other tests' threads may still be closing their own descriptors; a descriptor that stays open fails it.
    /// </summary>
    public static bool ReturnsTo(int count)
    {
        SpinWait.SpinUntil(() => Count() == count, TimeSpan.FromSeconds(5));
        return Count() == count;
    }

    /// <summary>As <see cref="Count"/> without the collection: what is open right now, assembly files left out.</summary>
    public static int CountNow()
    {
        int count = 0;
        foreach (string target in Take().Values)
        {
            if (!target.EndsWith(".dll", StringComparison.Ordinal)) count++;
        }

        return count;
    }

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
    public static string Difference(Dictionary<int, string> before, Dictionary<int, string> after)
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
}
