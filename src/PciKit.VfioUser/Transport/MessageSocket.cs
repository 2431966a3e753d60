using PciKit.Linux;
using PciKit.VfioUser.Protocol;

namespace PciKit.VfioUser.Transport;

/// <summary>Outcome of <see cref="MessageSocket.Receive"/>.</summary>
internal enum ReceiveResult
{
    /// <summary>A whole message is in <see cref="MessageSocket.Payload"/>, its fds in <see cref="MessageSocket.Fds"/>.</summary>
    Message,
    /// <summary>The peer closed the connection (cleanly, or in the middle of a message).</summary>
    Closed,
    /// <summary>The header was refused (<see cref="MessageSocket.LastError"/>); its payload was skipped, the header is valid for an error reply.</summary>
    Refused,
}

/// <summary>
/// vfio-user message framing over a UNIX stream socket: whole messages in, whole messages out, with their fds.
/// One thread receives; any thread may send (sends are serialised). Buffers are allocated once per connection, so
/// steady-state traffic allocates nothing. Received fds are owned by <see cref="Fds"/> until taken and are closed
/// when the next message is received.
/// </summary>
internal sealed class MessageSocket : IDisposable
{
    private readonly UnixSocket _socket;
    private readonly Lock _sendLock = new();
    private byte[] _rx;
    private byte[] _tx;
    private int _payloadLength;

    public MessageSocket(UnixSocket socket, int maxFds, int maxMessageSize)
    {
        _socket = socket;
        Fds = new ReceivedFds(maxFds);
        MaxMessageSize = maxMessageSize;
        _rx = new byte[maxMessageSize];
        _tx = new byte[maxMessageSize];
    }

    /// <summary>The socket.</summary>
    public UnixSocket Socket => _socket;

    /// <summary>Largest message accepted (header included); larger ones are skipped and refused with E2BIG.</summary>
    public int MaxMessageSize { get; private set; }

    /// <summary>Fds of the last received message.</summary>
    public ReceivedFds Fds { get; }

    /// <summary>Header of the last received (or refused) message.</summary>
    public VfioUserHeader Header { get; private set; }

    /// <summary>Why the last header was refused.</summary>
    public VfioUserError LastError { get; private set; }

    /// <summary>Payload of the last received message.</summary>
    public ReadOnlySpan<byte> Payload => _rx.AsSpan(0, _payloadLength);

    /// <summary>Grows the buffers after a negotiation raised the message size.</summary>
    public void EnsureMessageSize(int size)
    {
        if (size <= MaxMessageSize) return;
        MaxMessageSize = size;
        _rx = new byte[size];
        using var _ = _sendLock.EnterScope();
        _tx = new byte[size];
    }

    /// <summary>Receives one message. Blocks. Never throws for what the peer sends; socket errors other than a reset surface as <see cref="LinuxException"/>.</summary>
    public ReceiveResult Receive()
    {
        Fds.Clear();
        _payloadLength = 0;
        Span<byte> head = stackalloc byte[VfioUserHeader.HeaderSize];
        if (!ReadExactly(head)) return ReceiveResult.Closed;
        bool ok = VfioUserHeader.TryRead(head, (uint)MaxMessageSize, out var header, out var error);
        Header = header;
        LastError = error;
        long remaining = header.MessageSize >= VfioUserHeader.HeaderSize ? header.MessageSize - VfioUserHeader.HeaderSize : 0;
        if (!ok)
        {
            // Skip the payload so the stream stays in step, then let the caller answer with an error.
            while (remaining > 0)
            {
                int n = (int)Math.Min(remaining, _rx.Length);
                if (!ReadExactly(_rx.AsSpan(0, n))) return ReceiveResult.Closed;
                remaining -= n;
            }
            return ReceiveResult.Refused;
        }
        if (!ReadExactly(_rx.AsSpan(0, (int)remaining))) return ReceiveResult.Closed;
        _payloadLength = (int)remaining;
        return ReceiveResult.Message;
    }

    private bool ReadExactly(Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n;
            try
            {
                n = _socket.Receive(buffer[done..], Fds);
            }
            catch (LinuxException e) when (e.Errno is 104 /* ECONNRESET */ or 9 /* EBADF: closed under us */)
            {
                return false;
            }
            if (n == 0) return false;
            done += n;
        }
        return true;
    }

    /// <summary>Sends one message (header + payload) with <paramref name="fds"/> riding on its first byte.</summary>
    public void Send(in VfioUserHeader header, ReadOnlySpan<byte> payload, ReadOnlySpan<SafeFd> fds = default)
    {
        using var _ = _sendLock.EnterScope();
        int total = VfioUserHeader.HeaderSize + payload.Length;
        if (total > _tx.Length) throw new ArgumentException($"A {total}-byte message exceeds the {_tx.Length}-byte limit of this connection.", nameof(payload));
        header.Write(_tx);
        payload.CopyTo(_tx.AsSpan(VfioUserHeader.HeaderSize));
        _socket.SendAll(_tx.AsSpan(0, total), fds);
    }

    /// <summary>Builds and sends a message in the send buffer: <paramref name="write"/> fills the payload and returns its length.</summary>
    public void Send<TState>(VfioUserCommand command, ushort messageId, uint flags, TState state, PayloadWriter<TState> write, ReadOnlySpan<SafeFd> fds = default)
        where TState : allows ref struct
    {
        using var _ = _sendLock.EnterScope();
        int length = write(_tx.AsSpan(VfioUserHeader.HeaderSize), state);
        var header = new VfioUserHeader(messageId, command, (uint)(VfioUserHeader.HeaderSize + length), flags, 0);
        header.Write(_tx);
        _socket.SendAll(_tx.AsSpan(0, VfioUserHeader.HeaderSize + length), fds);
    }

    /// <summary>Sends a bare error reply to <paramref name="request"/>.</summary>
    public void SendError(in VfioUserHeader request, int errno) => Send(VfioUserHeader.ForError(request, errno), default);

    /// <summary>Closes the socket; a blocked <see cref="Receive"/> returns <see cref="ReceiveResult.Closed"/>.</summary>
    public void Shutdown()
    {
        // The connection may be closing on its own thread at the same moment (the client left): then the socket is already disposed.
        try { _socket.Shutdown(); } catch (Exception e) when (e is LinuxException or ObjectDisposedException) { }
    }

    public void Dispose()
    {
        Fds.Dispose();
        _socket.Dispose();
    }
}

/// <summary>Writes a payload into <paramref name="destination"/> and returns its length.</summary>
internal delegate int PayloadWriter<TState>(Span<byte> destination, TState state) where TState : allows ref struct;
