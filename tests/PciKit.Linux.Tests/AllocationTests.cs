namespace PciKit.Linux.Tests;

/// <summary>The send/receive and mapping paths allocate nothing in steady state (beyond one SafeFd per received fd).</summary>
public sealed class AllocationTests
{
    [Fact]
    public void SendReceiveAndMappingAccessDoNotAllocate()
    {
        var (a, b) = UnixSocket.CreatePair();
        using (a)
        using (b)
        using (var e = new EventFd(options: EventFdOptions.NonBlocking))
        using (var fds = new ReceivedFds(0))
        using (var m = MemoryMapping.MapAnonymous(4096))
        {
            SafeFd[] toSend = [e.Handle, e.Handle, e.Handle];
            var buffer = new byte[64];
            var payload = new byte[32];
            Run(a, b, toSend, fds, buffer, payload, m, e); // warm up (JIT, statics)

            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++)
            {
                Run(a, b, toSend, fds, buffer, payload, m, e);
            }

            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }

    private static void Run(UnixSocket a, UnixSocket b, SafeFd[] toSend, ReceivedFds fds, byte[] buffer, byte[] payload, MemoryMapping m, EventFd e)
    {
        a.SendAll(payload, toSend);          // three fds attached: the sender allocates nothing
        b.Receive(buffer, fds);             // capacity 0: the three arrive and are closed raw, no SafeFd created
        fds.Clear();
        a.Send(payload);
        b.Receive(buffer, fds);
        m.Write<ulong>(8, 1);
        m.CopyTo(0, buffer.AsSpan(0, 16));
        e.Signal();
        e.TryRead(out _);
    }
}
