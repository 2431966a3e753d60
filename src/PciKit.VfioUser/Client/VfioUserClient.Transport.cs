using System.Buffers.Binary;
using System.Diagnostics;
using PciKit.Linux;
using PciKit.VfioUser.Protocol;
using PciKit.VfioUser.Transport;

namespace PciKit.VfioUser.Client;

public sealed partial class VfioUserClient
{
    private const int EPROTO = 71;
    private readonly byte[] _dmaScratch;
    private volatile bool _disconnected;
    private ushort _lastMessageId;

    /// <summary>
    /// Sends one command and waits for its reply, serving server→client commands that arrive first. The caller holds
    /// <see cref="_lock"/> and consumes the returned payload (and <see cref="MessageSocket.Fds"/>) before it sends again.
    /// </summary>
    private ReadOnlySpan<byte> Request(VfioUserCommand command, ReadOnlySpan<byte> payload, ReadOnlySpan<SafeFd> fds = default)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        ThrowIfDisconnected(command);
        ushort id = unchecked(++_lastMessageId);
        try
        {
            _socket.Send(VfioUserHeader.ForCommand(id, command, payload.Length), payload, fds);
        }
        catch (Exception e) when (e is LinuxException or ObjectDisposedException)
        {
            throw Disconnected(command, e);
        }
        return AwaitReply(command, id);
    }

    private ReadOnlySpan<byte> AwaitReply(VfioUserCommand command, ushort id)
    {
        var timeout = _options.Timeout;
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            TimeSpan wait = Timeout.InfiniteTimeSpan;
            if (timeout != Timeout.InfiniteTimeSpan)
            {
                wait = timeout - Stopwatch.GetElapsedTime(start);
                if (wait < TimeSpan.Zero) wait = TimeSpan.Zero;
            }

            ReceiveResult result;
            try
            {
                if (!_socket.WaitReadable(wait))
                    throw new TimeoutException($"The vfio-user server at {Description} did not answer {VfioUserException.NameOf((int)command)} within {timeout.TotalSeconds:0.###} s.");
                result = _socket.Receive();
            }
            catch (Exception e) when (e is LinuxException or ObjectDisposedException)
            {
                throw Disconnected(command, e);
            }

            if (result == ReceiveResult.Closed) throw Disconnected(command, null);
            var header = _socket.Header;
            if (result == ReceiveResult.Refused)
            {
                if (!header.IsReply) ReplyError(header, _socket.LastError.Errno);
                else if (header.MessageId == id && header.Command == command)
                    throw Protocol(command, $"its reply was refused ({_socket.LastError.Message})");
                continue;
            }

            if (!header.IsReply)
            {
                ServeServerCommand(header, _socket.Payload);
                continue;
            }

            // A reply to an earlier request that timed out: drop it.
            if (header.MessageId != id || header.Command != command) continue;
            if (header.IsError)
            {
                int errno = (int)header.ErrorNumber;
                throw new VfioUserException(
                    $"The vfio-user server at {Description} refused {VfioUserException.NameOf((int)command)} with errno {errno} ({ErrnoName(errno)}).",
                    (int)command, errno);
            }
            return _socket.Payload;
        }
    }

    private Thread? _idleDma;

    /// <summary>
    /// Starts, once, the thread that serves the server's DMA_READ/DMA_WRITE while no request is in flight (a device
    /// may DMA while the driver only waits for an interrupt). It starts with the first DMA mapping (a server may use
    /// messages for any window, fd or not); while a request is in flight, that request's thread serves them.
    /// </summary>
    private void EnsureIdleDmaService()
    {
        if (_idleDma is not null) return;
        _idleDma = new Thread(ServeWhileIdle) { IsBackground = true, Name = "vfio-user client DMA" };
        _idleDma.Start();
    }

    private void ServeWhileIdle()
    {
        while (!_disconnected && Volatile.Read(ref _disposed) == 0)
        {
            try
            {
                if (!_socket.WaitReadable(TimeSpan.FromMilliseconds(200))) continue;
                if (!_lock.TryEnter())
                {
                    Thread.Sleep(1); // a request is in flight: its thread reads the socket
                    continue;
                }
                try
                {
                    if (_disconnected || !_socket.WaitReadable(TimeSpan.Zero)) continue;
                    var result = _socket.Receive();
                    if (result == ReceiveResult.Closed) { _disconnected = true; return; }
                    var header = _socket.Header;
                    if (result == ReceiveResult.Refused) { if (!header.IsReply) ReplyError(header, _socket.LastError.Errno); continue; }
                    if (!header.IsReply) ServeServerCommand(header, _socket.Payload);
                    // else: a late reply to a request that timed out; dropped, as AwaitReply does.
                }
                finally
                {
                    _lock.Exit();
                }
            }
            catch (Exception e) when (e is LinuxException or ObjectDisposedException or VfioUserException)
            {
                return;
            }
        }
    }

    /// <summary>Serves DMA_READ/DMA_WRITE against the client's DMA buffers; anything else gets EINVAL.</summary>
    private void ServeServerCommand(in VfioUserHeader header, ReadOnlySpan<byte> payload)
    {
        switch (header.Command)
        {
            case VfioUserCommand.DmaRead:
                ServeDmaRead(header, payload);
                break;
            case VfioUserCommand.DmaWrite:
                ServeDmaWrite(header, payload);
                break;
            default:
                ReplyError(header, LinuxErrno.EINVAL);
                break;
        }
    }

    private void ServeDmaRead(in VfioUserHeader header, ReadOnlySpan<byte> payload)
    {
        if (payload.Length != DmaReadMessage.FixedSize) { ReplyError(header, LinuxErrno.EINVAL); return; }
        ulong address = BinaryPrimitives.ReadUInt64LittleEndian(payload);
        ulong count = BinaryPrimitives.ReadUInt64LittleEndian(payload[8..]);
        if (count > MaxDataTransfer) { ReplyError(header, LinuxErrno.EINVAL); return; }
        Span<byte> reply = _dmaScratch.AsSpan(0, DmaReadMessage.FixedSize + (int)count);
        if (count != 0 && !_dma.TryRead(address, reply[DmaReadMessage.FixedSize..])) { ReplyError(header, LinuxErrno.EFAULT); return; }
        Interlocked.Increment(ref _dmaReadsServed);
        DmaReadMessage.WriteRequest(reply, address, count); // the reply's fixed part has the request's layout
        Reply(header, reply);
    }

    private void ServeDmaWrite(in VfioUserHeader header, ReadOnlySpan<byte> payload)
    {
        if (payload.Length < DmaWriteMessage.FixedSize) { ReplyError(header, LinuxErrno.EINVAL); return; }
        ulong address = BinaryPrimitives.ReadUInt64LittleEndian(payload);
        ulong count = BinaryPrimitives.ReadUInt64LittleEndian(payload[8..]);
        var data = payload[DmaWriteMessage.FixedSize..];
        if (count != (ulong)data.Length) { ReplyError(header, LinuxErrno.EINVAL); return; }
        if (count != 0 && !_dma.TryWrite(address, data)) { ReplyError(header, LinuxErrno.EFAULT); return; }
        Interlocked.Increment(ref _dmaWritesServed);
        Span<byte> reply = stackalloc byte[DmaWriteMessage.FixedSize];
        BinaryPrimitives.WriteUInt64LittleEndian(reply, address);
        BinaryPrimitives.WriteUInt64LittleEndian(reply[8..], count);
        Reply(header, reply);
    }

    private void Reply(in VfioUserHeader request, ReadOnlySpan<byte> payload)
    {
        if (request.NoReply) return;
        try
        {
            _socket.Send(VfioUserHeader.ForReply(request, payload.Length), payload);
        }
        catch (Exception e) when (e is LinuxException or ObjectDisposedException)
        {
            throw Disconnected(request.Command, e);
        }
    }

    private void ReplyError(in VfioUserHeader request, int errno)
    {
        if (request.NoReply) return;
        try
        {
            _socket.SendError(request, errno);
        }
        catch (Exception e) when (e is LinuxException or ObjectDisposedException)
        {
            throw Disconnected(request.Command, e);
        }
    }

    private void ThrowIfDisconnected(VfioUserCommand command)
    {
        if (!_disconnected) return;
        if (Volatile.Read(ref _disposed) != 0) throw new ObjectDisposedException(nameof(VfioUserClient), "This vfio-user client has been disposed; connect again.");
        throw new VfioUserDisconnectedException(
            $"The connection to the vfio-user server at {Description} is closed; {VfioUserException.NameOf((int)command)} cannot be sent. Connect again.", (int)command);
    }

    private VfioUserDisconnectedException Disconnected(VfioUserCommand command, Exception? inner)
    {
        _disconnected = true;
        string message = Volatile.Read(ref _disposed) != 0
            ? $"The vfio-user client for {Description} was disposed while {VfioUserException.NameOf((int)command)} waited for its reply."
            : $"The vfio-user server at {Description} closed the connection while {VfioUserException.NameOf((int)command)} waited for its reply; connect again.";
        return inner is null ? new VfioUserDisconnectedException(message, (int)command) : new VfioUserDisconnectedException(message, (int)command, inner);
    }

    private VfioUserException Protocol(VfioUserCommand command, string what) =>
        new($"The vfio-user server at {Description} broke the protocol in {VfioUserException.NameOf((int)command)}: {what}.", (int)command, EPROTO);

    private static string ErrnoName(int errno) => errno switch
    {
        LinuxErrno.ENOENT => "ENOENT",
        LinuxErrno.E2BIG => "E2BIG",
        LinuxErrno.EFAULT => "EFAULT",
        LinuxErrno.EEXIST => "EEXIST",
        LinuxErrno.EINVAL => "EINVAL",
        LinuxErrno.ENOSPC => "ENOSPC",
        LinuxErrno.ENOTSUP => "ENOTSUP",
        1 => "EPERM",
        5 => "EIO",
        12 => "ENOMEM",
        16 => "EBUSY",
        _ => "errno " + errno,
    };
}
