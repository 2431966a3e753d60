using System.Runtime.InteropServices;
using PciKit.Linux;

namespace PciKit.Ivshmem.Interop;

/// <summary><c>struct pollfd</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PollFd
{
    internal int Fd;
    internal short Events;
    internal short ReturnedEvents;
}

internal static partial class Libc
{
    internal const short POLLIN = 0x1;
    internal const short POLLOUT = 0x4;
    internal const short POLLERR = 0x8;
    internal const short POLLHUP = 0x10;
    internal const short POLLNVAL = 0x20;
    private const int EINTR = 4;

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMilliseconds);

    /// <summary>
    /// poll(2) over <paramref name="fds"/> until at least one is ready, retrying EINTR. The caller keeps every descriptor
    /// in the set open for the call (the server's loop thread is their only owner, so none closes meanwhile).
    /// </summary>
    internal static unsafe int PollMany(Span<PollFd> fds, int timeoutMilliseconds)
    {
        fixed (PollFd* p = fds)
        {
            while (true)
            {
                int result = Poll(p, (nuint)fds.Length, timeoutMilliseconds);
                if (result >= 0)
                {
                    return result;
                }

                int errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR)
                {
                    throw new LinuxException(errno, "poll");
                }
            }
        }
    }

    /// <summary>The raw number of a descriptor its owner keeps open.</summary>
    internal static int Number(SafeFd fd) => (int)fd.DangerousGetHandle();
}
