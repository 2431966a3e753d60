namespace PciKit.Device;

public abstract partial class PciDevice
{
    private long _epoch;

    /// <summary>
    /// Runs <paramref name="work"/> on the thread pool after <paramref name="delay"/>, under <see cref="SyncRoot"/> —
    /// the way a device does background work (a computation, a DMA engine) and posts its completion back through the
    /// device's serialisation. Work scheduled before a reset is dropped, so a reset device never sees stale
    /// completions.
    /// </summary>
    protected void RunLater(TimeSpan delay, Action work)
    {
        ArgumentNullException.ThrowIfNull(work);
        long epoch = Interlocked.Read(ref _epoch);
        if (delay <= TimeSpan.Zero)
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Device.RunIfCurrent(s.Epoch, s.Work), (Device: this, Epoch: epoch, Work: work), preferLocal: false);
        else
            _ = Task.Delay(delay).ContinueWith(static (_, s) => { var t = ((PciDevice, long, Action))s!; t.Item1.RunIfCurrent(t.Item2, t.Item3); },
                (this, epoch, work), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void RunIfCurrent(long epoch, Action work)
    {
        using var _ = SyncRoot.EnterScope();
        if (Interlocked.Read(ref _epoch) != epoch) return;
        try
        {
            work();
        }
        catch (Exception e)
        {
            Log.Write(PciLogLevel.Error, Name, $"background work failed: {e.Message}");
        }
    }

    private void AdvanceEpoch() => Interlocked.Increment(ref _epoch);
}
