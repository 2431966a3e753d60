using System.Diagnostics;
using PciKit.Ivshmem;
using PciKit.Linux;

namespace PciKit.IvshmemBench;

/// <summary>
/// Ping-pong between an initiator thread and a responder thread, each pinned to a chosen CPU. One round trip = the initiator
/// signals, the responder wakes and signals back, the initiator wakes. Only the initiator's clock is used.
/// </summary>
internal static class RoundTrip
{
    /// <summary>Bytes the initiator thread allocated per round trip in the last run (ping, wait, timing; the sample list is presized).</summary>
    public static double AllocatedPerRoundTrip { get; private set; }

    /// <summary>Two IvshmemPeers on one IvshmemServer: Ring(peer, 0) and Vectors[0].Wait() on each side.</summary>
    public static List<long> Ivshmem(IvshmemPeer initiator, IvshmemPeer responder, int count, int initiatorCpu, int responderCpu) =>
        Run(count, initiatorCpu, responderCpu,
            ping: () => initiator.Ring(responder.Id, 0),
            waitPong: () => initiator.Vectors[0].Wait(),
            waitPing: () => responder.Vectors[0].Wait(),
            pong: () => responder.Ring(initiator.Id, 0));

    /// <summary>The floor: two plain blocking eventfds, write then blocking read(2).</summary>
    public static List<long> RawEventFd(int count, int initiatorCpu, int responderCpu, bool nonBlocking)
    {
        var options = nonBlocking ? EventFdOptions.NonBlocking : EventFdOptions.None;
        using var toResponder = new EventFd(0, options);
        using var toInitiator = new EventFd(0, options);
        // Non-blocking: poll(2) then read(2), which is what a peer does on the server's O_NONBLOCK eventfds.
        Func<EventFd, ulong> wait = nonBlocking ? e => { e.Wait(Timeout.InfiniteTimeSpan); e.TryRead(out ulong v); return v; } : e => e.Read();
        return Run(count, initiatorCpu, responderCpu,
            ping: () => toResponder.Signal(),
            waitPong: () => wait(toInitiator),
            waitPing: () => wait(toResponder),
            pong: () => toInitiator.Signal());
    }

    private static List<long> Run(int count, int initiatorCpu, int responderCpu, Action ping, Func<ulong> waitPong, Func<ulong> waitPing, Action pong)
    {
        var samples = new List<long>(count);
        var responder = new Thread(() =>
        {
            Native.PinThisThread(responderCpu);
            for (int i = 0; i < count; i++)
            {
                waitPing();
                pong();
            }
        }) { IsBackground = true, Name = "responder" };
        var initiator = new Thread(() =>
        {
            Native.PinThisThread(initiatorCpu);
            long allocated = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < count; i++)
            {
                long start = Stopwatch.GetTimestamp();
                ping();
                waitPong();
                samples.Add(Stopwatch.GetTimestamp() - start);
            }

            AllocatedPerRoundTrip = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)count;
        }) { IsBackground = true, Name = "initiator" };
        responder.Start();
        initiator.Start();
        initiator.Join();
        responder.Join();
        return samples;
    }
}
