using System.Runtime.InteropServices;

namespace PciKit.IvshmemBench;

internal static unsafe partial class Native
{
    [LibraryImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    private static partial int SchedSetAffinity(int pid, nuint size, ulong* mask);

    /// <summary>Pins the calling thread to <paramref name="cpu"/>; a negative cpu leaves it free.</summary>
    public static void PinThisThread(int cpu)
    {
        if (cpu < 0) return;
        ulong mask = 1UL << cpu;
        if (SchedSetAffinity(0, sizeof(ulong), &mask) != 0)
            throw new InvalidOperationException($"sched_setaffinity(cpu {cpu}) failed: errno {Marshal.GetLastPInvokeError()}");
    }
}
