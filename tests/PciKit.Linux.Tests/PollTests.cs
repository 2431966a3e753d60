namespace PciKit.Linux.Tests;

/// <summary><see cref="Poll.Wait"/> over a set: which descriptors are ready, and a timeout.</summary>
public sealed class PollTests
{
    [Fact]
    public void Wait_reports_exactly_the_ready_entries_and_times_out_with_none()
    {
        using var quiet = new EventFd();
        using var rung = new EventFd();
        Span<PollEntry> set = [new PollEntry(quiet.Handle, PollEvents.Readable), new PollEntry(rung.Handle, PollEvents.Readable)];

        Assert.Equal(0, Poll.Wait(set, 20));
        Assert.Equal(PollEvents.None, set[0].ReturnedEvents | set[1].ReturnedEvents);

        rung.Signal();
        Assert.Equal(1, Poll.Wait(set, 5000));
        Assert.Equal(PollEvents.None, set[0].ReturnedEvents);
        Assert.Equal(PollEvents.Readable, set[1].ReturnedEvents);
        Assert.Equal(PollEvents.Readable, set[1].Events);
    }

    [Fact]
    public void A_peer_hang_up_is_reported_on_a_socket()
    {
        var (a, b) = UnixSocket.CreatePair();
        using (a)
        {
            b.Dispose();
            Span<PollEntry> set = [new PollEntry(a.Handle, PollEvents.Writable)];
            Assert.Equal(1, Poll.Wait(set, 5000));
            Assert.NotEqual(PollEvents.None, set[0].ReturnedEvents & (PollEvents.HangUp | PollEvents.Error));
        }
    }
}
