using PciKit.Linux.Interop;

namespace PciKit.Linux;

public sealed partial class UnixSocket
{
    /// <summary>
    /// Waits with poll(2) until the socket has data to read, the peer hung up, or an error is pending (each of which
    /// makes the next <see cref="Receive"/> return at once).
    /// </summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> to wait forever.</param>
    /// <returns><see langword="false"/> on timeout.</returns>
    public bool WaitReadable(TimeSpan timeout) => Libc.PollOne(Handle, PollEvents.Readable, Libc.ToPollTimeout(timeout));
}
