using System.Diagnostics;

namespace PciKit.Linux.Tests;

public sealed class EventFdTests
{
    [Fact]
    public void CounterAccumulatesAndReadResets()
    {
        using var e = new EventFd(options: EventFdOptions.NonBlocking);
        Assert.True(e.Handle.IsCloseOnExec);
        Assert.False(e.TryRead(out _));
        e.Signal();
        e.Signal(41);
        Assert.Equal(42ul, e.Read());
        Assert.False(e.TryRead(out ulong none));
        Assert.Equal(0ul, none);
    }

    [Fact]
    public void InitialValueIsReadable()
    {
        using var e = new EventFd(7);
        Assert.True(e.TryRead(out ulong v));
        Assert.Equal(7ul, v);
        Assert.False(e.TryRead(out _)); // blocking fd: TryRead polls first, so it does not block
    }

    [Fact]
    public void SemaphoreModeReadsOneAtATime()
    {
        using var e = new EventFd(options: EventFdOptions.Semaphore | EventFdOptions.NonBlocking);
        e.Signal(3);
        Assert.Equal(1ul, e.Read());
        Assert.True(e.TryRead(out ulong v));
        Assert.Equal(1ul, v);
        Assert.Equal(1ul, e.Read());
        Assert.False(e.TryRead(out _));
    }

    [Fact]
    public void SignalRejectsInvalidIncrements()
    {
        using var e = new EventFd();
        Assert.Throws<ArgumentOutOfRangeException>(() => e.Signal(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => e.Signal(ulong.MaxValue));
    }

    [Fact]
    public void OverflowOnNonBlockingIsEagain()
    {
        using var e = new EventFd(options: EventFdOptions.NonBlocking);
        e.Signal(ulong.MaxValue - 1);
        var ex = Assert.Throws<LinuxException>(() => e.Signal());
        Assert.True(ex.IsWouldBlock);
        Assert.Equal("EAGAIN", ex.ErrorName);
    }

    [Fact]
    public void WaitTimesOutThenSucceedsWithoutConsuming()
    {
        using var e = new EventFd();
        var sw = Stopwatch.StartNew();
        Assert.False(e.Wait(TimeSpan.FromMilliseconds(50)));
        Assert.True(sw.ElapsedMilliseconds >= 45, $"waited only {sw.ElapsedMilliseconds} ms");
        Assert.False(e.Wait(TimeSpan.Zero));
        e.Signal(2);
        Assert.True(e.Wait(TimeSpan.FromSeconds(5)));
        Assert.Equal(2ul, e.Read());
    }

    [Fact]
    public async Task BlockingReadWakesOnSignal()
    {
        using var e = new EventFd();
        var reader = Task.Run(e.Read);
        Thread.Sleep(20);
        e.Signal(5);
        Assert.Equal(5ul, await reader.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task WaitAsyncCompletesSynchronouslyWhenAlreadySignalled()
    {
        using var e = new EventFd();
        e.Signal(3);
        ValueTask<ulong> wait = e.WaitAsync();
        Assert.True(wait.IsCompletedSuccessfully);
        Assert.Equal(3ul, await wait);
    }

    [Theory]
    [InlineData(EventFdOptions.None)]
    [InlineData(EventFdOptions.NonBlocking)]
    public async Task WaitAsyncCompletesOnSignal(EventFdOptions options)
    {
        using var e = new EventFd(options: options);
        ValueTask<ulong> wait = e.WaitAsync();
        Assert.False(wait.IsCompleted);
        e.Signal(9);
        Assert.Equal(9ul, await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.False(e.TryRead(out _));

        // The registration is re-armed for the next wait.
        ValueTask<ulong> again = e.WaitAsync();
        e.Signal(1);
        Assert.Equal(1ul, await again.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task WaitAsyncCancelsAndConsumesNothing()
    {
        using var e = new EventFd(options: EventFdOptions.NonBlocking);
        using var cts = new CancellationTokenSource();
        ValueTask<ulong> wait = e.WaitAsync(cts.Token);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await wait);
        e.Signal(4);
        Assert.Equal(4ul, e.Read());
        Assert.True((await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await e.WaitAsync(cts.Token))).CancellationToken.IsCancellationRequested);
    }

    [Fact]
    public async Task SemaphoreWaitersEachGetOne()
    {
        using var e = new EventFd(options: EventFdOptions.Semaphore | EventFdOptions.NonBlocking);
        var waits = new Task<ulong>[5];
        for (int i = 0; i < waits.Length; i++)
        {
            waits[i] = e.WaitAsync().AsTask();
        }

        e.Signal(5);
        ulong[] results = await Task.WhenAll(waits).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.All(results, r => Assert.Equal(1ul, r));
        Assert.False(e.TryRead(out _));
    }

    [Fact]
    public async Task ManyEventFdsShareOneLoop()
    {
        var fds = Enumerable.Range(0, 64).Select(_ => new EventFd(options: EventFdOptions.NonBlocking)).ToArray();
        try
        {
            Task<ulong>[] waits = fds.Select(f => f.WaitAsync().AsTask()).ToArray();
            for (int i = 0; i < fds.Length; i++)
            {
                fds[i].Signal((ulong)i + 1);
            }

            ulong[] results = await Task.WhenAll(waits).WaitAsync(TimeSpan.FromSeconds(5));
            Assert.Equal(Enumerable.Range(1, 64).Select(i => (ulong)i), results);
        }
        finally
        {
            foreach (EventFd f in fds)
            {
                f.Dispose();
            }
        }
    }

    [Fact]
    public async Task DisposeFailsPendingWaits()
    {
        var e = new EventFd();
        ValueTask<ulong> wait = e.WaitAsync();
        e.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await wait);
        Assert.Throws<ObjectDisposedException>(() => e.WaitAsync());
        Assert.Throws<ObjectDisposedException>(() => e.Signal());
    }

    [Fact]
    public void FromHandleWrapsAForeignDescriptor()
    {
        using var original = new EventFd(options: EventFdOptions.NonBlocking);
        using var wrapped = EventFd.FromHandle(original.Handle.Duplicate());
        Assert.True(wrapped.IsNonBlocking);
        wrapped.Signal(6);
        Assert.Equal(6ul, original.Read());
    }
}
