using System.Runtime.InteropServices;

namespace PciKit.Linux.Interop;

internal static partial class Libc
{
    /// <summary>poll(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "poll", SetLastError = true)]
    internal static unsafe partial int Poll(PollEntry* fds, nuint count, int timeoutMilliseconds);

    /// <summary>
    /// Waits until <paramref name="fd"/> reports one of <paramref name="events"/> (or an error/hangup),
    /// retrying EINTR against the original deadline. A negative timeout waits forever.
    /// Returns <see langword="false"/> on timeout.
    /// </summary>
    internal static unsafe bool PollOne(SafeFd fd, PollEvents events, int timeoutMilliseconds)
    {
        bool added = false;
        try
        {
            fd.DangerousAddRef(ref added);
            var pfd = new PollEntry(fd.DangerousGetFd(), events);
            int result = PciKit.Linux.Poll.Wait(new Span<PollEntry>(&pfd, 1), timeoutMilliseconds);
            if (result > 0 && (pfd.ReturnedEvents & PollEvents.Invalid) != 0)
            {
                ThrowHelper.Throw(Errno.EBADF, "poll");
            }

            return result > 0;
        }
        finally
        {
            if (added)
            {
                fd.DangerousRelease();
            }
        }
    }

    /// <summary>Converts a timeout to poll's milliseconds: infinite → -1, rounded up, clamped to int.</summary>
    internal static int ToPollTimeout(TimeSpan timeout)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return -1;
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        double ms = Math.Ceiling(timeout.TotalMilliseconds);
        return ms >= int.MaxValue ? int.MaxValue : (int)ms;
    }
}
