using System.Diagnostics;
using System.Runtime.CompilerServices;
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
/// <remarks>
/// Receiving reads ahead: one recvmsg takes whatever has arrived (up to the buffer's free space), so a small request
/// costs one system call instead of two (header, then payload), and pipelined requests are taken in batches.
/// <para>
/// fds: the kernel attaches them to the first byte of the sendmsg that carried them and ends a read right after the
/// segment that holds them, so the fds of one read belong to the <b>last message that starts within that read</b>.
/// They wait in a second container until that message is parsed. While they wait, reads are limited to the bytes
/// the current message still needs, so a second batch of fds cannot arrive before the first is placed.
/// </para>
/// </remarks>
internal sealed unsafe class MessageSocket : IDisposable
{
    private const int ReadAhead = 64 * 1024;
    private const int MaxDirectPrefix = 32;
    private readonly UnixSocket _socket;
    private readonly long _busyPollTicks;
    private readonly Lock _sendLock = new();
    private ReceivedFds _fds;
    private ReceivedFds _incoming;
    private byte[] _rx;
    private byte[] _tx;
    private int _head;      // first unparsed byte in _rx
    private int _tail;      // end of the received bytes in _rx
    private long _headPosition; // stream offset of _rx[_head]
    private bool _fdsPending;   // _incoming holds fds of a read [_fdReadStart, _fdReadEnd) not yet given to a message
    private long _fdReadStart, _fdReadEnd;
    private int _payloadStart;
    private int _payloadLength;
    private bool _directArmed;  // the data of one expected reply goes straight to _directData (see ArmDirectReply)
    private ushort _directId;
    private int _directPrefix;
    private readonly byte[] _directExpected = new byte[MaxDirectPrefix];
    private byte* _directData;
    private int _directLength;

    public MessageSocket(UnixSocket socket, int maxFds, int maxMessageSize)
    {
        _socket = socket;
        _fds = new ReceivedFds(maxFds);
        _incoming = new ReceivedFds(maxFds);
        MaxMessageSize = maxMessageSize;
        _rx = new byte[maxMessageSize + ReadAhead];
        _tx = new byte[maxMessageSize];
    }

    /// <summary>The socket.</summary>
    public UnixSocket Socket => _socket;

    /// <summary>
    /// How long a receive that finds nothing buffered keeps trying non-blocking reads before it blocks (zero: it blocks
    /// at once). A message that arrives meanwhile is taken without the wake-up a blocked reader costs.
    /// </summary>
    public TimeSpan BusyPoll
    {
        get => TimeSpan.FromSeconds((double)_busyPollTicks / Stopwatch.Frequency);
        init => _busyPollTicks = (long)(value.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>Counts reads whose data arrived while polling (optional; shared with whoever reports it).</summary>
    public StrongBox<long>? BusyPollHits { get; init; }

    /// <summary>Counts reads that went into a blocking receive (optional): after a fruitless poll, each is a sleep and a wake-up.</summary>
    public StrongBox<long>? BlockingReads { get; init; }

    /// <summary>Largest message accepted (header included); larger ones are skipped and refused with E2BIG.</summary>
    public int MaxMessageSize { get; private set; }

    /// <summary>Fds of the last received message.</summary>
    public ReceivedFds Fds => _fds;

    /// <summary>Header of the last received (or refused) message.</summary>
    public VfioUserHeader Header { get; private set; }

    /// <summary>Why the last header was refused.</summary>
    public VfioUserError LastError { get; private set; }

    /// <summary>
    /// True when the last message was the reply armed with <see cref="ArmDirectReply"/>: <see cref="Payload"/> then holds
    /// only its fixed prefix, and its data is already in the armed destination.
    /// </summary>
    public bool LastDataDirect { get; private set; }

    /// <summary>
    /// Arms a zero-copy receive for one expected reply: if the next message with id <paramref name="messageId"/> is a
    /// non-error reply of exactly header + <paramref name="expectedPrefix"/> + <paramref name="length"/> bytes whose
    /// payload starts with <paramref name="expectedPrefix"/> (bulk DMA data: address and count), the bytes after the
    /// prefix are received straight into <paramref name="data"/> instead of the receive buffer. Any other message is
    /// received as usual (so a reply that does not match writes nothing there). The caller keeps <paramref name="data"/>
    /// pinned and receives on this thread until <see cref="DisarmDirectReply"/>.
    /// </summary>
    public void ArmDirectReply(ushort messageId, ReadOnlySpan<byte> expectedPrefix, byte* data, int length)
    {
        if (expectedPrefix.Length > MaxDirectPrefix) throw new ArgumentException($"a direct reply's prefix is at most {MaxDirectPrefix} bytes", nameof(expectedPrefix));
        expectedPrefix.CopyTo(_directExpected);
        _directId = messageId;
        _directPrefix = expectedPrefix.Length;
        _directData = data;
        _directLength = length;
        _directArmed = true;
    }

    /// <summary>Forgets the destination armed by <see cref="ArmDirectReply"/> (whether or not its reply came).</summary>
    public void DisarmDirectReply()
    {
        _directArmed = false;
        _directData = null;
        _directLength = 0;
    }

    /// <summary>Payload of the last received message (valid until the next <see cref="Receive"/>).</summary>
    public ReadOnlySpan<byte> Payload => _rx.AsSpan(_payloadStart, _payloadLength);

    /// <summary>Grows the buffers after a negotiation raised the message size.</summary>
    public void EnsureMessageSize(int size)
    {
        if (size <= MaxMessageSize) return;
        MaxMessageSize = size;
        var rx = new byte[size + ReadAhead];
        _rx.AsSpan(_head, _tail - _head).CopyTo(rx);
        _tail -= _head;
        _head = 0;
        _payloadStart = 0;
        _payloadLength = 0;
        _rx = rx;
        using var _ = _sendLock.EnterScope();
        _tx = new byte[size];
    }

    /// <summary>True when a message (or part of one) is already buffered, or the socket becomes readable within <paramref name="timeoutMs"/>.</summary>
    public bool WaitReadable(int timeoutMs) => _tail > _head || _socket.WaitReadable(timeoutMs);

    /// <summary>As <see cref="WaitReadable(int)"/>: true at once when read-ahead bytes are buffered (poll would not see them).</summary>
    public bool WaitReadable(TimeSpan timeout) => _tail > _head || _socket.WaitReadable(timeout);

    /// <summary>Receives one message. Blocks. Never throws for what the peer sends; socket errors other than a reset surface as <see cref="LinuxException"/>.</summary>
    public ReceiveResult Receive()
    {
        _fds.Clear();
        _payloadStart = 0;
        _payloadLength = 0;
        LastDataDirect = false;
        if (!Fill(VfioUserHeader.HeaderSize)) return ReceiveResult.Closed;
        bool ok = VfioUserHeader.TryRead(_rx.AsSpan(_head, VfioUserHeader.HeaderSize), (uint)MaxMessageSize, out var header, out var error);
        Header = header;
        LastError = error;
        if (!ok)
        {
            // Skip the payload so the stream stays in step, then let the caller answer with an error.
            long remaining = header.MessageSize >= VfioUserHeader.HeaderSize ? header.MessageSize : VfioUserHeader.HeaderSize;
            ClaimFds(remaining);
            _fds.Clear();
            while (remaining > 0)
            {
                if (_tail == _head && !Fill(1)) return ReceiveResult.Closed;
                int n = (int)Math.Min(remaining, _tail - _head);
                Consume(n);
                remaining -= n;
            }
            return ReceiveResult.Refused;
        }
        if (_directArmed && !_fdsPending && header.IsReply && !header.IsError && header.MessageId == _directId
            && header.MessageSize == (uint)(VfioUserHeader.HeaderSize + _directPrefix + _directLength))
        {
            return ReceiveDirect((int)header.MessageSize);
        }
        return ReceiveWhole((int)header.MessageSize);
    }

    /// <summary>Receives the rest of a <paramref name="size"/>-byte message whose header is at the head into the buffer.</summary>
    private ReceiveResult ReceiveWhole(int size)
    {
        if (!Fill(size)) return ReceiveResult.Closed;
        ClaimFds(size);
        _payloadStart = _head + VfioUserHeader.HeaderSize;
        _payloadLength = size - VfioUserHeader.HeaderSize;
        Consume(size);
        return ReceiveResult.Message;
    }

    /// <summary>Receives the armed reply: header and prefix into the buffer, the data straight into the armed destination.</summary>
    private ReceiveResult ReceiveDirect(int size)
    {
        int fixedPart = VfioUserHeader.HeaderSize + _directPrefix;
        if (!Fill(fixedPart)) return ReceiveResult.Closed;
        // fds arrived with it (a client that should not send any), or a prefix that is not the expected one: the usual path.
        if (_fdsPending || !_rx.AsSpan(_head + VfioUserHeader.HeaderSize, _directPrefix).SequenceEqual(_directExpected.AsSpan(0, _directPrefix)))
            return ReceiveWhole(size);
        _payloadStart = _head + VfioUserHeader.HeaderSize;
        _payloadLength = _directPrefix;
        Consume(fixedPart);
        var destination = new Span<byte>(_directData, _directLength);
        // What the read-ahead already brought is copied; the rest is received in place (never past the message's end).
        int done = Math.Min(_tail - _head, destination.Length);
        _rx.AsSpan(_head, done).CopyTo(destination);
        Consume(done);
        while (done < destination.Length)
        {
            // The buffer is empty here: the stream position moves on without it. fds in the middle of a reply belong to
            // no message that starts in this read, so ClaimFds drops them.
            if (!ReadSome(destination[done..], _headPosition, out int n)) return ReceiveResult.Closed;
            done += n;
            _headPosition += n;
        }
        DisarmDirectReply();
        LastDataDirect = true;
        return ReceiveResult.Message;
    }

    private void Consume(int n)
    {
        _head += n;
        _headPosition += n;
    }

    /// <summary>The message starting at the head is <paramref name="size"/> bytes: if it is the last message that starts in the read that brought the waiting fds, they are its fds.</summary>
    private void ClaimFds(long size)
    {
        if (!_fdsPending) return;
        if (_headPosition >= _fdReadStart && _headPosition < _fdReadEnd && _headPosition + size >= _fdReadEnd)
        {
            (_fds, _incoming) = (_incoming, _fds);
            _fdsPending = false;
        }
        else if (_headPosition >= _fdReadEnd)
        {
            // No message started in that read (a sender that attached fds mid-message): drop them.
            _incoming.Clear();
            _fdsPending = false;
        }
    }

    /// <summary>Reads until at least <paramref name="count"/> bytes are buffered from the head; false at end of stream.</summary>
    private bool Fill(int count)
    {
        if (_tail - _head >= count) return true;
        if (_head + count > _rx.Length || _tail == _head)
        {
            // Move the partial message to the front (it is small unless it is a bulk message being assembled).
            int have = _tail - _head;
            if (have > 0) _rx.AsSpan(_head, have).CopyTo(_rx);
            _head = 0;
            _tail = have;
        }
        while (_tail - _head < count)
        {
            // Read ahead as far as the buffer allows, unless fds are waiting for their message: then only what this message needs.
            int limit = _fdsPending ? _head + count : _rx.Length;
            // While a direct reply is armed, read no further than its header and prefix: its data must land in place,
            // not in the read-ahead (other messages that come first are read whole, as `count` asks).
            if (_directArmed) limit = Math.Min(limit, _head + Math.Max(count, VfioUserHeader.HeaderSize + _directPrefix));
            if (!ReadSome(_rx.AsSpan(_tail, limit - _tail), _headPosition + (_tail - _head), out int n)) return false;
            _tail += n;
        }
        return true;
    }

    /// <summary>
    /// One recvmsg into <paramref name="into"/>, whose first byte is at stream offset <paramref name="readStart"/>; fds that
    /// arrive are noted as belonging to that read (see <see cref="ClaimFds"/>). False at end of stream or on a reset.
    /// </summary>
    private bool ReadSome(Span<byte> into, long readStart, out int n)
    {
        try
        {
            if (_busyPollTicks == 0 || !ReceivePolling(into, out n))
            {
                if (BlockingReads is { } blocking) Interlocked.Increment(ref blocking.Value);
                n = _socket.Receive(into, _incoming);
            }
        }
        catch (LinuxException e) when (e.Errno is 104 /* ECONNRESET */ or 9 /* EBADF: closed under us */)
        {
            n = 0;
            return false;
        }
        if (n == 0) return false;
        if (!_fdsPending && (_incoming.Count > 0 || _incoming.Status != FdTransferStatus.Ok))
        {
            _fdsPending = true;
            _fdReadStart = readStart;
            _fdReadEnd = readStart + n;
        }
        return true;
    }

    /// <summary>
    /// Non-blocking receives (one recvmsg with MSG_DONTWAIT each) until one brings data or the busy-poll time is up;
    /// false then, and the caller blocks. What is already waiting costs the one recvmsg a blocking read would.
    /// </summary>
    private bool ReceivePolling(Span<byte> into, out int n)
    {
        if (_socket.TryReceiveNow(into, _incoming, out n)) return true; // already there: no wake-up was at stake
        long deadline = Stopwatch.GetTimestamp() + _busyPollTicks;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (_socket.TryReceiveNow(into, _incoming, out n))
            {
                if (BusyPollHits is { } hits) Interlocked.Increment(ref hits.Value);
                return true;
            }
        }

        return false;
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

    /// <summary>
    /// Sends a message whose payload is <paramref name="prefix"/> (built in the send buffer, ≤ 64 bytes) followed by
    /// <paramref name="data"/>, which goes to the socket straight from where it lies (one sendmsg with two iovecs):
    /// bulk DMA data is not copied into the send buffer first.
    /// </summary>
    public void SendWithData(VfioUserCommand command, ushort messageId, uint flags, ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> data)
    {
        using var _ = _sendLock.EnterScope();
        int total = VfioUserHeader.HeaderSize + prefix.Length + data.Length;
        if (total > MaxMessageSize) throw new ArgumentException($"A {total}-byte message exceeds the {MaxMessageSize}-byte limit of this connection.", nameof(data));
        new VfioUserHeader(messageId, command, (uint)total, flags, 0).Write(_tx);
        prefix.CopyTo(_tx.AsSpan(VfioUserHeader.HeaderSize));
        _socket.SendAllGather(_tx.AsSpan(0, VfioUserHeader.HeaderSize + prefix.Length), data);
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
        _fds.Dispose();
        _incoming.Dispose();
        _socket.Dispose();
    }
}

/// <summary>Writes a payload into <paramref name="destination"/> and returns its length.</summary>
internal delegate int PayloadWriter<TState>(Span<byte> destination, TState state) where TState : allows ref struct;
