using PciKit.Device;
using PciKit.Linux;
using PciKit.Linux.Memory;
using PciKit.Memory;
using PciKit.VfioUser.Protocol;

namespace PciKit.VfioUser.Server;

internal sealed partial class ServerConnection
{
    private const ulong Page = 4096;
    private readonly Lock _dmaGate = new();
    private readonly byte[] _dmaReplyBuffer;
    private readonly ManualResetEventSlim _dmaReplied = new(false);
    private volatile bool _dmaWaiting;
    private ushort _dmaWaitId;
    private int _dmaReplyLength;
    private int _dmaReplyErrno;
    private bool _dmaWaiterIsReader;
    private bool _dmaReplyInSocket;
    private int _nextId = 0x8000;

    private int HandleDmaMap(ReadOnlySpan<byte> payload, IFdSource fds, out string? why)
    {
        why = null;
        if (!DmaMapRequest.TryParse(payload, out var request, out var error)) return Refuse(error.Errno, error.Message, out why!);
        if (fds.Count > 1) return Refuse(LinuxErrno.EINVAL, "DMA_MAP carries at most one fd", out why!);
        if (_dma.Count >= _options.MaxDmaMaps) return Refuse(LinuxErrno.ENOSPC, $"the client already has {_dma.Count} DMA windows (max_dma_maps)", out why!);
        var access = (request.Readable ? DmaAccess.Read : DmaAccess.None) | (request.Writeable ? DmaAccess.Write : DmaAccess.None);
        DmaWindow window;
        if (fds.Count == 1)
        {
            using var fd = fds.Take(0);
            ulong aligned = request.Offset & ~(Page - 1);
            ulong delta = request.Offset - aligned;
            MappedMemoryBlock block;
            try
            {
                block = MappedMemoryBlock.Map(fd, aligned, request.Size + delta,
                    request.Writeable ? MappingAccess.ReadWrite : MappingAccess.ReadOnly, keepFd: false);
            }
            catch (LinuxException e)
            {
                return Refuse(e.Errno, $"cannot map the DMA fd: {e.Message}", out why!);
            }
            catch (ArgumentException e)
            {
                return Refuse(LinuxErrno.EINVAL, $"cannot map the DMA fd: {e.Message}", out why!);
            }
            window = new MemoryDmaWindow(request.Address, block, delta, request.Size, access, ownsMemory: true);
        }
        else
        {
            window = new MessageDmaWindow(this, request.Address, request.Size, access);
        }
        if (!_dma.TryMap(window))
        {
            window.Release();
            return Refuse(LinuxErrno.EEXIST, $"[{request.Address:x}, +{request.Size:x}) overlaps an existing DMA window", out why!);
        }
        return 0;
    }

    private int HandleDmaUnmap(ReadOnlySpan<byte> payload, ref int length, out string? why)
    {
        why = null;
        if (!DmaUnmapRequest.TryParse(payload, out var request, out var error)) return Refuse(error.Errno, error.Message, out why!);
        if (request.UnmapAll)
        {
            foreach (var w in _dma.RemoveAll()) Retire(w);
        }
        else
        {
            if (!_dma.TryRemoveRange(request.Address, request.Size, out var removed))
                return Refuse(LinuxErrno.ENOENT, $"no DMA window lies wholly inside [{request.Address:x}, +{request.Size:x}) (or one straddles its ends)", out why!);
            foreach (var w in removed) Retire(w);
        }
        length = request.Write(_reply);
        return 0;
    }

    /// <summary>Waits (reading the socket meanwhile) until no device access uses the window, then releases it; only then is the unmap answered.</summary>
    private void Retire(DmaWindow window)
    {
        while (!window.IsIdle)
        {
            if (!PumpOnce(1)) break;
        }
        SpinWait.SpinUntil(() => window.IsIdle, TimeSpan.FromSeconds(10));
        window.Release();
    }

    private void DeliverReply(in VfioUserHeader header, ReadOnlySpan<byte> payload)
    {
        if (!_dmaWaiting || header.MessageId != _dmaWaitId)
        {
            _log.Write(PciLogLevel.Warning, "vfio-user", $"unexpected reply to {header.Command} (id {header.MessageId}); dropped");
            return;
        }
        if (_dmaWaiterIsReader)
        {
            // This thread is the waiter (pumping inside WaitForDmaReply): it parses the reply where it lies.
            _dmaReplyInSocket = true;
            _dmaReplyLength = payload.Length;
        }
        else
        {
            int n = Math.Min(payload.Length, _dmaReplyBuffer.Length);
            payload[..n].CopyTo(_dmaReplyBuffer);
            _dmaReplyLength = n;
        }
        _dmaReplyErrno = header.IsError ? (int)Math.Max(1u, header.ErrorNumber) : 0;
        _dmaReplied.Set();
    }

    private void FailPendingDma()
    {
        if (!_dmaWaiting) return;
        _dmaReplyErrno = 32; // EPIPE: the client is gone
        _dmaReplied.Set();
    }

    /// <summary>One server→client DMA message and its reply. Runs on any thread; only one is in flight at a time.</summary>
    private unsafe bool DmaRoundTrip(VfioUserCommand command, ulong address, Span<byte> readInto, ReadOnlySpan<byte> writeFrom)
    {
        using var gate = _dmaGate.EnterScope();
        if (_closed) return false;
        ushort id = (ushort)Interlocked.Increment(ref _nextId);
        _dmaWaitId = id;
        _dmaWaiterIsReader = Thread.CurrentThread == _reader;
        _dmaReplyInSocket = false;
        _dmaReplyErrno = 0;
        _dmaReplied.Reset();
        _dmaWaiting = true;
        bool direct = false;
        fixed (byte* destination = readInto)
        try
        {
            Interlocked.Increment(ref _server.Counters.DmaMessages);
            if (command == VfioUserCommand.DmaRead && _dmaWaiterIsReader && readInto.Length > 0)
            {
                // This thread will read the reply: its data goes straight from the socket into the device's buffer.
                Span<byte> expected = stackalloc byte[DmaReadMessage.FixedSize];
                DmaReadMessage.WriteRequest(expected, address, (ulong)readInto.Length); // the reply's prefix repeats the request
                _socket.ArmDirectReply(id, expected, destination, readInto.Length);
                direct = true;
            }
            if (command == VfioUserCommand.DmaRead)
                _socket.Send(command, id, VfioUserHeader.TypeCommand, (address, (ulong)readInto.Length),
                    static (dest, s) => DmaReadMessage.WriteRequest(dest, s.address, s.Item2));
            else
            {
                // The data goes to the socket from where the device holds it (no copy into the send buffer).
                Span<byte> prefix = stackalloc byte[DmaWriteMessage.FixedSize];
                DmaWriteMessage.WriteRequestFixed(prefix, address, (ulong)writeFrom.Length);
                _socket.SendWithData(command, id, VfioUserHeader.TypeCommand, prefix, writeFrom);
            }
            if (!WaitForDmaReply()) return false;
            if (_dmaReplyErrno != 0) return false;
            // A reply read by the waiting thread itself is still in the socket's receive buffer (nothing is received
            // until this round trip ends); one read by the reader for another thread was copied aside.
            var reply = _dmaReplyInSocket ? _socket.Payload : _dmaReplyBuffer.AsSpan(0, _dmaReplyLength);
            if (command == VfioUserCommand.DmaRead)
            {
                // Received in place: the socket took it only with this id, this exact size and this address and count.
                if (_dmaReplyInSocket && _socket.LastDataDirect) return true;
                if (!DmaReadMessage.TryParseReply(reply, address, (ulong)readInto.Length, out var data, out _)) return false;
                data.CopyTo(readInto);
                return true;
            }
            return DmaWriteMessage.TryParseReply(reply, out ulong a, out ulong c, out _) && a == address && c == (ulong)writeFrom.Length;
        }
        catch (Exception e) when (e is LinuxException or ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            if (direct) _socket.DisarmDirectReply();
            _dmaWaiting = false;
        }
    }

    private bool WaitForDmaReply()
    {
        var deadline = DateTime.UtcNow + _options.DmaTimeout;
        if (Thread.CurrentThread == _reader)
        {
            // The device asked for DMA from inside a request this thread is serving: read the reply ourselves.
            while (!_dmaReplied.IsSet)
            {
                if (DateTime.UtcNow > deadline || !PumpOnce(10)) return _dmaReplied.IsSet;
            }
            return true;
        }
        if (_dmaReplied.Wait(_options.DmaTimeout)) return true;
        _log.Write(PciLogLevel.Warning, "vfio-user", $"DMA message to the client got no answer within {_options.DmaTimeout.TotalSeconds:0.#} s");
        return false;
    }

    /// <summary>A DMA window the client mapped without an fd: device accesses become DMA_READ/DMA_WRITE messages, chunked by the client's max_data_xfer_size.</summary>
    private sealed class MessageDmaWindow(ServerConnection connection, ulong address, ulong length, DmaAccess access)
        : DmaWindow(address, length, access)
    {
        protected override bool Read(ulong offset, Span<byte> destination)
        {
            int chunk = connection.ClientChunk;
            for (int done = 0; done < destination.Length; done += chunk)
            {
                int n = Math.Min(chunk, destination.Length - done);
                if (!connection.DmaRoundTrip(VfioUserCommand.DmaRead, Address + offset + (ulong)done, destination.Slice(done, n), default)) return false;
            }
            return true;
        }

        protected override bool Write(ulong offset, ReadOnlySpan<byte> source)
        {
            int chunk = connection.ClientChunk;
            for (int done = 0; done < source.Length; done += chunk)
            {
                int n = Math.Min(chunk, source.Length - done);
                if (!connection.DmaRoundTrip(VfioUserCommand.DmaWrite, Address + offset + (ulong)done, default, source.Slice(done, n))) return false;
            }
            return true;
        }
    }

    /// <summary>Bytes per DMA message: the client's max_data_xfer_size, bounded by this connection's buffers.</summary>
    private int ClientChunk => (int)Math.Min(_client.MaxDataTransferSize, (ulong)(_dmaReplyBuffer.Length - 64));
}
