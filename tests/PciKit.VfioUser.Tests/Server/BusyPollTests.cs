using PciKit.Devices.Edu;
using PciKit.VfioUser.Server;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>
/// The serving thread's busy-poll (<see cref="VfioUserServerOptions.BusyPoll"/>): requests are answered the same with it
/// on or off, a request that arrives while it polls is taken without sleeping (and counted), and a departing client or a
/// stopping server ends the poll at once.
/// </summary>
public sealed class BusyPollTests
{
    [Fact]
    public void The_default_polls_fifty_microseconds_only_when_more_than_one_cpu_is_available()
    {
        var defaults = new VfioUserServerOptions();
        Assert.Null(defaults.BusyPoll);
        Assert.Equal(Environment.ProcessorCount > 1 ? TimeSpan.FromMicroseconds(50) : TimeSpan.Zero, defaults.EffectiveBusyPoll);
        Assert.Equal(TimeSpan.Zero, (defaults with { BusyPoll = TimeSpan.Zero }).EffectiveBusyPoll);
        Assert.Equal(TimeSpan.FromMicroseconds(200), (defaults with { BusyPoll = TimeSpan.FromMicroseconds(200) }).EffectiveBusyPoll);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1_000_001)]
    public void A_busy_poll_outside_zero_to_one_second_is_refused_with_the_range(int microseconds)
    {
        var dir = Directory.CreateTempSubdirectory("pkv").FullName;
        try
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
                VfioUserServer.Start(new EduDevice(), Path.Combine(dir, "s.sock"), new() { BusyPoll = TimeSpan.FromMicroseconds(microseconds) }));
            Assert.Contains("BusyPoll must be between zero (off) and one second", e.Message);
            Assert.False(File.Exists(Path.Combine(dir, "s.sock")), "nothing is left listening");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(50)]
    [InlineData(1_000_000)]
    public void Requests_get_the_same_answers_whether_the_server_polls_or_sleeps(int microseconds)
    {
        using var h = new ServerHarness(new EduDevice(), new() { BusyPoll = TimeSpan.FromMicroseconds(microseconds) });
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        for (uint i = 0; i < 200; i++)
        {
            c.Write32(0, 0x04, i);
            Assert.Equal(~i, c.Read32(0, 0x04)); // edu's liveness register inverts what was written
            if (i % 50 == 0) Thread.Sleep(2); // a pause longer than a short poll: the server sleeps and is woken
        }

        if (microseconds == 0) Assert.Equal(0, h.Server.Counters.BusyPollHitCount);
    }

    [Fact]
    public void A_request_that_arrives_while_the_server_polls_is_taken_without_sleeping()
    {
        // A poll of up to one second: the next request is sent 5 ms after the previous reply, well inside it. (On a loaded
        // machine the serving thread may start its poll only after the request is there; then it is read at once, not
        // counted as a hit, and still not slept for.)
        using var h = new ServerHarness(new EduDevice(), new() { BusyPoll = TimeSpan.FromSeconds(1) });
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        long hitsBefore = h.Server.Counters.BusyPollHitCount, sleepsBefore = h.Server.Counters.BlockingReadCount;
        for (int i = 0; i < 5; i++)
        {
            Thread.Sleep(5);
            Assert.Equal(0x010000edu, c.Read32(0, 0x00));
        }

        Assert.Equal(0, h.Server.Counters.BlockingReadCount - sleepsBefore);
        Assert.True(h.Server.Counters.BusyPollHitCount > hitsBefore, "no request was taken while polling");
    }

    [Fact]
    public void Without_the_poll_a_request_that_comes_after_a_pause_is_waited_for_in_a_blocking_read()
    {
        using var h = new ServerHarness(new EduDevice(), new() { BusyPoll = TimeSpan.Zero });
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        long sleepsBefore = h.Server.Counters.BlockingReadCount;
        for (int i = 0; i < 5; i++)
        {
            Thread.Sleep(5);
            Assert.Equal(0x010000edu, c.Read32(0, 0x00));
        }

        // Requests 2–5 each waited in a blocking read that began after the previous reply. (The read that took request 1
        // may have begun before the baseline; the one after reply 5 may begin after this count.)
        Assert.True(h.Server.Counters.BlockingReadCount - sleepsBefore >= 4, $"{h.Server.Counters.BlockingReadCount - sleepsBefore} blocking reads for requests 2–5");
        Assert.Equal(0, h.Server.Counters.BusyPollHitCount);
    }

    [Fact]
    public void A_client_that_leaves_while_the_server_polls_is_released_and_the_next_one_served()
    {
        using var h = new ServerHarness(new EduDevice(), new() { BusyPoll = TimeSpan.FromSeconds(1) });
        using (var c = h.ConnectNegotiated())
        {
            c.EnableMemoryAndBusMaster();
            Assert.Equal(0x010000edu, c.Read32(0, 0x00));
        }

        h.WaitClientsServed(1); // within the hang guard, not after the poll times out on a dead socket again and again
        using var next = h.ConnectNegotiated();
        next.EnableMemoryAndBusMaster();
        Assert.Equal(0x010000edu, next.Read32(0, 0x00));
    }

    [Fact]
    public async Task Stopping_the_server_ends_a_poll_in_progress()
    {
        var h = new ServerHarness(new EduDevice(), new() { BusyPoll = TimeSpan.FromSeconds(1) });
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        Assert.Equal(0x010000edu, c.Read32(0, 0x00)); // the server now polls for the next request
        await Task.Run(h.Dispose).WaitAsync(RawClient.HangGuard); // throws TimeoutException if the poll held it up
        Assert.True(c.WasClosedByPeer());
    }
}
