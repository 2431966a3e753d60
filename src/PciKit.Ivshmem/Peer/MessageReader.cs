using System.Diagnostics;
using PciKit.Linux;

namespace PciKit.Ivshmem;

/// <summary>What <see cref="MessageReader.Read"/> found.</summary>
internal enum ReadOutcome
{
    /// <summary>A whole message (and its descriptor, if one came).</summary>
    Message,

    /// <summary>Nothing arrived before the timeout.</summary>
    Timeout,

    /// <summary>The server closed the connection between messages.</summary>
    EndOfStream,
}

/// <summary>
/// Reads server messages (8 bytes, at most one descriptor each) from a peer's socket. Descriptors are owned by a
/// <see cref="SafeFd"/> from arrival; more than one per message, truncated control data or a connection that ends inside a
/// message are protocol errors. Single reader at a time.
/// </summary>
internal sealed class MessageReader(UnixSocket socket) : IDisposable
{
    /// <summary>How long the rest of a message may take once its first byte arrived.</summary>
    private const int RestOfMessageMilliseconds = 5000;

    private readonly ReceivedFds _fds = new(1);

    /// <summary>Reads one message, waiting up to <paramref name="timeoutMilliseconds"/> (negative: forever) for it to start.</summary>
    /// <param name="timeoutMilliseconds">How long to wait for the first byte.</param>
    /// <param name="value">The message.</param>
    /// <param name="fd">Its descriptor, now owned by the caller, or null.</param>
    /// <exception cref="IvshmemProtocolException">Malformed framing or descriptors.</exception>
    internal ReadOutcome Read(int timeoutMilliseconds, out long value, out SafeFd? fd)
    {
        value = 0;
        fd = null;
        Span<byte> buffer = stackalloc byte[IvshmemWire.MessageSize];
        int got = 0;
        _fds.Clear();
        long start = Stopwatch.GetTimestamp();
        while (got < IvshmemWire.MessageSize)
        {
            int wait = got == 0 ? timeoutMilliseconds : Remaining(start, RestOfMessageMilliseconds);
            if (wait >= 0 && !socket.WaitReadable(wait))
            {
                if (got == 0)
                {
                    return ReadOutcome.Timeout;
                }

                throw Fail($"the server sent {got} of a message's 8 bytes and then nothing for {RestOfMessageMilliseconds} ms");
            }

            int n;
            try
            {
                n = socket.Receive(buffer[got..], _fds);
            }
            catch (LinuxException e) when (e.IsWouldBlock)
            {
                continue;
            }
            catch (LinuxException e)
            {
                if (got == 0)
                {
                    return ReadOutcome.EndOfStream; // ECONNRESET between messages: the server is gone
                }

                throw new IvshmemProtocolException($"reading from the ivshmem server failed inside a message: {e.Message}", e);
            }

            if (_fds.Status != FdTransferStatus.Ok)
            {
                throw Fail(_fds.Status == FdTransferStatus.TooManyFds
                    ? "the server attached more than one descriptor to a message"
                    : "the server's descriptors were truncated (MSG_CTRUNC)");
            }

            if (n == 0)
            {
                if (got == 0)
                {
                    return ReadOutcome.EndOfStream;
                }

                throw Fail($"the server closed the connection after {got} of a message's 8 bytes");
            }

            got += n;
        }

        value = IvshmemWire.Read(buffer);
        fd = _fds.Count > 0 ? _fds.Take(0) : null;
        _fds.Clear();
        return ReadOutcome.Message;
    }

    /// <summary>Closes descriptors of a message read only in part.</summary>
    public void Dispose() => _fds.Dispose();

    private static int Remaining(long start, int budget) =>
        (int)Math.Max(0, budget - Stopwatch.GetElapsedTime(start).TotalMilliseconds);

    private IvshmemProtocolException Fail(string message)
    {
        _fds.Clear();
        return new IvshmemProtocolException(message + "; closing the connection.");
    }
}
