using System.Diagnostics;
using System.Runtime.InteropServices;
using PciKit.Linux.Interop;

namespace PciKit.Linux;

/// <summary>The events of poll(2) (<c>POLLIN</c>, <c>POLLOUT</c>, <c>POLLERR</c>, <c>POLLHUP</c>, <c>POLLNVAL</c>).</summary>
[Flags]
public enum PollEvents : short
{
    /// <summary>Nothing.</summary>
    None = 0,
    /// <summary><c>POLLIN</c>: data to read (or a hang-up to read as end of stream).</summary>
    Readable = 0x1,
    /// <summary><c>POLLOUT</c>: room to write.</summary>
    Writable = 0x4,
    /// <summary><c>POLLERR</c> (reported only).</summary>
    Error = 0x8,
    /// <summary><c>POLLHUP</c> (reported only).</summary>
    HangUp = 0x10,
    /// <summary><c>POLLNVAL</c>: the number is not an open descriptor (reported only).</summary>
    Invalid = 0x20,
}

/// <summary>
/// One descriptor of a poll(2) set, laid out as <c>struct pollfd</c>. It holds the descriptor's number, not a reference:
/// whoever fills a set keeps every <see cref="SafeFd"/> in it open until <see cref="Poll.Wait"/> returns.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct PollEntry
{
    private readonly int _fd;
    private readonly PollEvents _events;
    private PollEvents _returned;

    /// <summary>Watches <paramref name="fd"/> for <paramref name="events"/>.</summary>
    public PollEntry(SafeFd fd, PollEvents events)
        : this(fd.DangerousGetFd(), events)
    {
    }

    internal PollEntry(int fd, PollEvents events)
    {
        _fd = fd;
        _events = events;
        _returned = PollEvents.None;
    }

    /// <summary>The events asked for.</summary>
    public readonly PollEvents Events => _events;

    /// <summary>The events the last <see cref="Poll.Wait"/> reported for this descriptor.</summary>
    public readonly PollEvents ReturnedEvents => _returned;
}

/// <summary>poll(2) over a set of descriptors (for one descriptor, the types' own waits: <see cref="UnixSocket.WaitReadable(int)"/>, <see cref="EventFd.Wait(TimeSpan)"/>).</summary>
public static class Poll
{
    /// <summary>
    /// Waits until at least one entry of <paramref name="entries"/> is ready or <paramref name="timeoutMilliseconds"/>
    /// passes (negative: forever), retrying EINTR against the original deadline. Returns how many entries are ready
    /// (0 on a timeout); each entry's <see cref="PollEntry.ReturnedEvents"/> says what happened.
    /// </summary>
    /// <exception cref="LinuxException">poll(2) failed.</exception>
    public static unsafe int Wait(Span<PollEntry> entries, int timeoutMilliseconds)
    {
        fixed (PollEntry* p = entries)
        {
            long start = Stopwatch.GetTimestamp();
            int remaining = timeoutMilliseconds;
            while (true)
            {
                int result = Libc.Poll(p, (nuint)entries.Length, remaining);
                if (result >= 0)
                {
                    return result;
                }

                int errno = ThrowHelper.LastErrno;
                if (errno != Errno.EINTR)
                {
                    ThrowHelper.Throw(errno, "poll");
                }

                if (timeoutMilliseconds >= 0)
                {
                    long elapsed = (long)Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    remaining = (int)Math.Max(0, timeoutMilliseconds - elapsed);
                }
            }
        }
    }
}
