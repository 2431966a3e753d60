namespace PciKit.Linux.Tests;

public sealed class EventFdReadinessTests
{
    [Fact]
    public async Task WaitReadableAsync_completes_when_signalled_without_consuming_the_counter()
    {
        using var e = new EventFd(options: EventFdOptions.NonBlocking);
        ValueTask wait = e.WaitReadableAsync();
        Assert.False(wait.IsCompleted);
        e.Signal(3);
        await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(e.WaitReadableAsync().IsCompletedSuccessfully); // still readable: nothing was consumed
        Assert.True(e.TryRead(out ulong value));
        Assert.Equal(3UL, value);
    }

    [Fact]
    public async Task WaitReadableAsync_and_a_consuming_wait_can_share_an_eventfd()
    {
        using var e = new EventFd(options: EventFdOptions.NonBlocking);
        ValueTask ready = e.WaitReadableAsync();
        ValueTask<ulong> consume = e.WaitAsync();
        e.Signal();
        await ready.AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(1UL, await consume.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
    }
}
