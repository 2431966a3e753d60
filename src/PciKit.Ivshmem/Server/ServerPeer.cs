using PciKit.Linux;

namespace PciKit.Ivshmem;

/// <summary>
/// One connected peer as the server sees it: its socket, its eventfds (one per vector) and the messages waiting for its
/// socket to drain. Touched only by the server's loop thread.
/// </summary>
internal sealed class ServerPeer(int id, UnixSocket socket, EventFd[] vectors) : IDisposable
{
    private readonly Queue<Pending> _queue = new();

    internal int Id { get; } = id;

    internal UnixSocket Socket { get; } = socket;

    internal EventFd[] Vectors { get; } = vectors;

    /// <summary>Why the loop will drop this peer; null while it is healthy.</summary>
    internal IvshmemPeerLeftReason? DropReason { get; set; }

    internal bool HasQueue => _queue.Count > 0;

    internal int QueuedCount => _queue.Count;

    /// <summary>
    /// Sends one message (value + optional descriptor) without blocking. What the socket cannot take now is queued in order,
    /// holding a reference on the descriptor (so it stays open even if its owner disconnects) until it is sent.
    /// </summary>
    /// <returns><see langword="false"/> when the peer's connection failed (it must be dropped).</returns>
    internal bool Send(long value, SafeFd? fd)
    {
        if (DropReason is not null)
        {
            return false;
        }

        if (_queue.Count == 0)
        {
            int offset = 0;
            if (TrySend(value, fd, ref offset))
            {
                return true;
            }

            if (DropReason is not null)
            {
                return false;
            }

            // Nothing or part of it went out; a sent part took the descriptor along.
            _queue.Enqueue(new Pending(value, offset == 0 ? fd : null, addRef: true) { Offset = offset });
            return true;
        }

        _queue.Enqueue(new Pending(value, fd, addRef: true));
        return true;
    }

    /// <summary>Sends queued messages while the socket takes them; false when the connection failed.</summary>
    internal bool Flush()
    {
        while (_queue.TryPeek(out Pending? head))
        {
            int offset = head.Offset;
            bool whole = TrySend(head.Value, head.Fd, ref offset);
            if (offset > head.Offset)
            {
                head.ReleaseFd(); // delivered with the first byte
                head.Offset = offset;
            }

            if (!whole)
            {
                return DropReason is null;
            }

            _queue.Dequeue();
        }

        return true;
    }

    /// <summary>Closes the socket and the eventfds (queued references keep descriptors open until released here).</summary>
    public void Dispose()
    {
        while (_queue.TryDequeue(out Pending? p))
        {
            p.ReleaseFd();
        }

        Socket.Dispose();
        foreach (EventFd e in Vectors)
        {
            e.Dispose();
        }
    }

    /// <summary>One non-blocking sendmsg of the message's unsent bytes; the descriptor goes with the first byte.</summary>
    /// <returns><see langword="true"/> when the whole message is out; otherwise <paramref name="offset"/> says how much is.</returns>
    private bool TrySend(long value, SafeFd? fd, ref int offset)
    {
        Span<byte> bytes = stackalloc byte[IvshmemWire.MessageSize];
        IvshmemWire.Write(bytes, value);
        try
        {
            ReadOnlySpan<SafeFd> fds = fd is null || offset > 0 ? default : new ReadOnlySpan<SafeFd>(in fd);
            if (!Socket.TrySend(bytes[offset..], fds, out int sent))
            {
                return false;
            }

            offset += sent;
            return offset == IvshmemWire.MessageSize;
        }
        catch (LinuxException)
        {
            DropReason = IvshmemPeerLeftReason.ConnectionFailed; // EPIPE, ECONNRESET …
            return false;
        }
    }

    /// <summary>A message not yet fully sent. A queued one holds a reference on its descriptor.</summary>
    private sealed class Pending
    {
        private bool _referenced;

        internal Pending(long value, SafeFd? fd, bool addRef)
        {
            Value = value;
            Fd = fd;
            if (addRef && fd is not null)
            {
                fd.DangerousAddRef(ref _referenced);
            }
        }

        internal long Value { get; }

        internal SafeFd? Fd { get; private set; }

        internal int Offset { get; set; }

        internal void ReleaseFd()
        {
            if (_referenced)
            {
                Fd!.DangerousRelease();
                _referenced = false;
            }

            Fd = null;
        }
    }
}
