using PciKit.Device;
using PciKit.Linux;
using PciKit.Memory;
using PciKit.VfioUser.Protocol;
using PciKit.VfioUser.Transport;

namespace PciKit.VfioUser.Server;

/// <summary>
/// One client of a <see cref="VfioUserServer"/>: reads messages on one thread, runs them against the device, replies.
/// Owns the connection's socket, its DMA windows (the device's DMA space while connected), its interrupt eventfds and
/// every fd it received. Whenever this thread must wait (for the device lock held by a device thread doing DMA by
/// message, or for a DMA reply it asked for itself) it keeps reading the socket: replies are delivered, commands are
/// deferred and run afterwards in order, so neither side can deadlock.
/// </summary>
internal sealed partial class ServerConnection : IDisposable
{
    private const ushort ServerMajor = 0;
    private const ushort ServerMinor = 0;

    private readonly VfioUserServer _server;
    private readonly PciDevice _device;
    private readonly VfioUserServerOptions _options;
    private readonly MessageSocket _socket;
    private readonly DmaAddressSpace _dma = new();
    private readonly ServerInterrupts _irqs;
    private readonly byte[] _reply;
    private readonly Queue<Deferred> _deferred = new();
    private readonly SocketFds _socketFds;
    private readonly IPciLog _log;
    private Thread? _reader;
    private VfioUserCapabilities _client = new();
    private bool _negotiated;
    private volatile bool _closed;
    private long _errorsLogged;

    public ServerConnection(VfioUserServer server, UnixSocket socket, VfioUserServerOptions options)
    {
        _server = server;
        _device = server.Device;
        _options = options;
        _log = server.Log;
        int maxMessage = checked((int)options.MaxDataTransferSize + 4096);
        // A send buffer that holds a whole DMA_WRITE (or REGION_READ reply) lets it leave in one hand-off; the kernel
        // caps the request at net.core.wmem_max, so on a default system this is a best effort.
        try { socket.SetSendBufferSize(2 * maxMessage); } catch (LinuxException) { }
        _socket = new MessageSocket(socket, options.MaxMessageFds, maxMessage) { BusyPoll = options.EffectiveBusyPoll, BusyPollHits = server.Counters.BusyPollHits, BlockingReads = server.Counters.BlockingReads };
        _socketFds = new SocketFds(_socket);
        _reply = new byte[maxMessage];
        _dmaReplyBuffer = new byte[maxMessage];
        _irqs = new ServerInterrupts(_device, _log);
    }

    /// <summary>Serves until the client leaves or the server stops.</summary>
    public void Run()
    {
        _reader = Thread.CurrentThread;
        _device.Connect(_irqs, _dma);
        try
        {
            while (!_closed)
            {
                if (_deferred.Count > 0)
                {
                    var d = _deferred.Dequeue();
                    if (d.RefusedErrno != 0) ReplyError(d.Header, d.RefusedErrno, "refused message");
                    else Handle(d.Header, d.Payload, d.Fds);
                    d.Fds.Dispose();
                    continue;
                }
                var result = _socket.Receive();
                if (result == ReceiveResult.Closed) break;
                var header = _socket.Header;
                if (result == ReceiveResult.Refused)
                {
                    ReplyError(header, _socket.LastError.Errno, _socket.LastError.Message);
                    continue;
                }
                if (header.IsReply)
                {
                    DeliverReply(header, _socket.Payload);
                    continue;
                }
                Handle(header, _socket.Payload, _socketFds);
                _socket.Fds.Clear();
            }
        }
        catch (ConnectionClosedException)
        {
        }
        finally
        {
            _closed = true;
            FailPendingDma();
            _device.Disconnect();
        }
    }

    /// <summary>Wakes the reader thread so that <see cref="Run"/> returns.</summary>
    public void Shutdown()
    {
        _closed = true;
        _socket.Shutdown();
        FailPendingDma();
    }

    public void Dispose()
    {
        _closed = true;
        FailPendingDma();
        foreach (var w in _dma.RemoveAll())
        {
            SpinWait.SpinUntil(() => w.IsIdle, TimeSpan.FromSeconds(10));
            w.Release();
        }
        _irqs.Dispose();
        while (_deferred.Count > 0) _deferred.Dequeue().Fds.Dispose();
        _socket.Dispose();
        _dmaReplied.Dispose();
    }

    private void Handle(in VfioUserHeader header, ReadOnlySpan<byte> payload, IFdSource fds)
    {
        Interlocked.Increment(ref _server.Counters.Messages);
        int replyLength = 0;
        SafeFd? replyFd = null;
        int errno;
        string? why = null;
        if (fds.Status != FdTransferStatus.Ok)
        {
            errno = LinuxErrno.EINVAL;
            why = $"message carried more than {_options.MaxMessageFds} fds";
        }
        else if (!_negotiated && header.Command != VfioUserCommand.Version)
        {
            errno = LinuxErrno.EINVAL;
            why = "the first message must be VERSION";
        }
        else
        {
            try
            {
                errno = header.Command switch
                {
                    VfioUserCommand.Version => HandleVersion(payload, ref replyLength, out why),
                    VfioUserCommand.DmaMap => HandleDmaMap(payload, fds, out why),
                    VfioUserCommand.DmaUnmap => HandleDmaUnmap(payload, ref replyLength, out why),
                    VfioUserCommand.DeviceGetInfo => HandleGetInfo(payload, ref replyLength, out why),
                    VfioUserCommand.DeviceGetRegionInfo => HandleRegionInfo(payload, ref replyLength, out replyFd, out why),
                    VfioUserCommand.DeviceGetIrqInfo => HandleIrqInfo(payload, ref replyLength, out why),
                    VfioUserCommand.DeviceSetIrqs => HandleSetIrqs(payload, fds, out why),
                    VfioUserCommand.RegionRead => HandleRegionRead(payload, ref replyLength, out why),
                    VfioUserCommand.RegionWrite => HandleRegionWrite(payload, ref replyLength, out why),
                    VfioUserCommand.RegionWriteMulti => HandleRegionWriteMulti(payload, ref replyLength, out why),
                    VfioUserCommand.DeviceReset => HandleReset(payload, out why),
                    VfioUserCommand.DeviceFeature => HandleFeature(payload, out why),
                    VfioUserCommand.DmaRead or VfioUserCommand.DmaWrite => Refuse(LinuxErrno.EINVAL, "DMA_READ/DMA_WRITE go from server to client", out why),
                    _ => Refuse(IsKnownUnsupported(header.Command) ? LinuxErrno.ENOTSUP : LinuxErrno.EINVAL,
                        IsKnownUnsupported(header.Command) ? "command not supported by this server" : "unknown command", out why),
                };
            }
            catch (ConnectionClosedException)
            {
                throw;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                errno = LinuxErrno.EINVAL;
                why = $"{e.GetType().Name}: {e.Message}";
            }
        }
        if (fds.Count > 0 && errno != 0) fds.DisposeAll();
        if (errno != 0)
        {
            ReplyError(header, errno, why ?? "refused");
            return;
        }
        if (header.NoReply) return;
        var reply = VfioUserHeader.ForReply(header, replyLength);
        if (replyFd is not null) _socket.Send(reply, _reply.AsSpan(0, replyLength), [replyFd]);
        else _socket.Send(reply, _reply.AsSpan(0, replyLength));
    }

    private static bool IsKnownUnsupported(VfioUserCommand command) =>
        (int)command is 6 /* GET_REGION_IO_FDS */ or 14 /* DIRTY_PAGES */ or 17 /* MIG_DATA_READ */ or 18 /* MIG_DATA_WRITE */;

    private static int Refuse(int errno, string message, out string why)
    {
        why = message;
        return errno;
    }

    private void ReplyError(in VfioUserHeader header, int errno, string why)
    {
        Interlocked.Increment(ref _server.Counters.ErrorReplies);
        long n = Interlocked.Increment(ref _errorsLogged);
        if (n <= 20 || n % 1000 == 0)
            _log.Write(PciLogLevel.Warning, "vfio-user", $"{header.Command} (id {header.MessageId}): errno {errno}: {why}{(n == 20 ? " (further errors are logged every 1000th)" : "")}");
        if (header.NoReply && !header.IsReply) return;
        _socket.SendError(header, errno);
    }

    private int HandleVersion(ReadOnlySpan<byte> payload, ref int length, out string? why)
    {
        why = null;
        if (_negotiated) return Refuse(LinuxErrno.EINVAL, "VERSION was already negotiated", out why!);
        if (!VfioUserVersion.TryParse(payload, out var request, out var error)) return Refuse(error.Errno, error.Message, out why!);
        if (request.Major != ServerMajor) return Refuse(LinuxErrno.ENOTSUP, $"protocol major {request.Major} is not supported (this server speaks {ServerMajor}.{ServerMinor})", out why!);
        _client = request.Capabilities;
        var caps = new VfioUserCapabilities
        {
            MaxMessageFds = (uint)_options.MaxMessageFds,
            MaxDataTransferSize = _options.MaxDataTransferSize,
            MaxDmaMaps = _options.MaxDmaMaps,
            PageSizes = 4096,
            WriteMultiple = true,
        };
        var reply = new VfioUserVersion(ServerMajor, Math.Min(request.Minor, ServerMinor), caps);
        length = reply.Write(_reply);
        _negotiated = true;
        return 0;
    }

    private int HandleGetInfo(ReadOnlySpan<byte> payload, ref int length, out string? why)
    {
        why = null;
        if (!DeviceInfo.TryParse(payload, out _, out var error)) return Refuse(error.Errno, error.Message, out why!);
        length = new DeviceInfo(DeviceInfo.Size16, VfioDeviceInfoFlags.Pci | VfioDeviceInfoFlags.Reset, VfioPciRegion.Count, VfioPciIrq.Count).Write(_reply);
        return 0;
    }

    private int HandleReset(ReadOnlySpan<byte> payload, out string? why)
    {
        why = null;
        if (!DeviceResetRequest.TryParse(payload, out var error)) return Refuse(error.Errno, error.Message, out why!);
        EnterDevice();
        try
        {
            _device.Reset(PciResetKind.FunctionLevel);
            _irqs.OnDeviceReset();
        }
        finally
        {
            _device.SyncRoot.Exit();
        }
        return 0;
    }

    private int HandleFeature(ReadOnlySpan<byte> payload, out string? why)
    {
        if (!DeviceFeatureRequest.TryParse(payload, out _, out var error)) return Refuse(error.Errno, error.Message, out why!);
        return Refuse(LinuxErrno.ENOTSUP, "no device features (migration, dirty tracking) are supported", out why!);
    }

    /// <summary>Takes the device lock; while it is held elsewhere, keeps reading the socket (see the class remarks).</summary>
    private void EnterDevice()
    {
        var gate = _device.SyncRoot;
        while (!gate.TryEnter())
        {
            if (!PumpOnce(1)) throw new ConnectionClosedException();
        }
    }

    /// <summary>Reads one message if one arrives within <paramref name="timeoutMs"/>: replies are delivered, commands deferred. False when the client is gone.</summary>
    private bool PumpOnce(int timeoutMs)
    {
        if (_closed) return false;
        if (!_socket.WaitReadable(timeoutMs)) return true;
        var result = _socket.Receive();
        if (result == ReceiveResult.Closed)
        {
            _closed = true;
            FailPendingDma();
            return false;
        }
        var header = _socket.Header;
        if (result == ReceiveResult.Refused) _deferred.Enqueue(new Deferred(header, [], new ArrayFds([]), _socket.LastError.Errno));
        else if (header.IsReply) DeliverReply(header, _socket.Payload);
        else _deferred.Enqueue(new Deferred(header, _socket.Payload.ToArray(), ArrayFds.TakeAll(_socket.Fds), 0));
        return true;
    }

    private readonly record struct Deferred(VfioUserHeader Header, byte[] Payload, IFdSource Fds, int RefusedErrno);

    private sealed class ConnectionClosedException : Exception;
}
