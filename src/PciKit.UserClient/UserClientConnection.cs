using PciKit.Linux;
using PciKit.UserClient.Protocol;

namespace PciKit.UserClient;

/// <summary>
/// An app's connection to a driver's <see cref="UserClientService"/> (<c>IOServiceOpen</c>): ask for memory types and
/// map them (<see cref="MapMemory"/>, <c>IOConnectMapMemory64</c>). One request at a time per connection (calls are
/// serialised); each reply is awaited at most <see cref="ReplyTimeout"/>.
/// </summary>
public sealed class UserClientConnection : IDisposable
{
    private readonly UnixSocket _socket;
    private readonly ReceivedFds _fds = new(1);
    private readonly Lock _lock = new();
    private readonly byte[] _buffer = new byte[UserClientWire.ReplyHeaderSize + UserClientWire.MaxMessageLength];
    private bool _disposed;

    private UserClientConnection(UnixSocket socket) => _socket = socket;

    /// <summary>How long a request waits for the reply (default 30 s).</summary>
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Connects to the service at <paramref name="socketPath"/>; <see cref="LinuxException"/> (ENOENT, ECONNREFUSED) when nobody serves there.</summary>
    public static UserClientConnection Connect(string socketPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        return new UserClientConnection(UnixSocket.Connect(socketPath));
    }

    /// <summary>
    /// Maps memory type <paramref name="type"/> into this process: read-write, or read-only with
    /// <paramref name="readOnly"/> (required for types the driver offers read-only). Throws
    /// <see cref="UserClientException"/> with the service's reason when it refuses.
    /// </summary>
    public UserClientMapping MapMemory(int type, bool readOnly = false)
    {
        using var grant = RequestMemory(type, readOnly);
        ulong page = (ulong)Environment.SystemPageSize;
        ulong aligned = grant.FileOffset & ~(page - 1), delta = grant.FileOffset - aligned;
        var mapping = MemoryMapping.Map(grant.File, aligned, delta + grant.Length, grant.IsReadOnly ? MappingAccess.ReadOnly : MappingAccess.ReadWrite);
        return new UserClientMapping(type, mapping, delta, grant.Length);
    }

    /// <summary>
    /// Asks for memory type <paramref name="type"/> and returns the descriptor and its range without mapping it, for
    /// callers that map it themselves or hand it on. Throws <see cref="UserClientException"/> when the service refuses.
    /// </summary>
    public UserClientMemoryGrant RequestMemory(int type, bool readOnly = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(type);
        using var _ = _lock.EnterScope();
        ObjectDisposedException.ThrowIf(_disposed, this);
        Span<byte> request = stackalloc byte[UserClientWire.RequestSize];
        UserClientWire.WriteRequest(request, UserClientWire.MapMemoryCommand, (uint)type, readOnly ? UserClientWire.ReadOnlyFlag : 0);
        return Exchange(request, type, readOnly);
    }

    /// <summary>Sends raw request bytes and parses the reply (tests send malformed requests through it).</summary>
    internal UserClientMemoryGrant ExchangeRaw(ReadOnlySpan<byte> request)
    {
        using var _ = _lock.EnterScope();
        return Exchange(request, 0, false);
    }

    private UserClientMemoryGrant Exchange(ReadOnlySpan<byte> request, int type, bool readOnly)
    {
        _fds.Clear();
        try
        {
            try
            {
                _socket.SendAll(request);
            }
            catch (LinuxException e) when (e.ErrorName is "EPIPE" or "ECONNRESET")
            {
                // The service may have answered and hung up before reading (Busy): read what it said.
            }
            ReadExactly(_buffer.AsSpan(0, UserClientWire.ReplyHeaderSize));
            if (!UserClientWire.TryReadReply(_buffer, out var reply, out string? error))
                throw new UserClientException(UserClientStatus.Ok, "The user-client reply is malformed: " + error + ".");
            ReadExactly(_buffer.AsSpan(UserClientWire.ReplyHeaderSize, reply.MessageLength));
            string message = System.Text.Encoding.UTF8.GetString(_buffer, UserClientWire.ReplyHeaderSize, reply.MessageLength);
            if (reply.Status != UserClientStatus.Ok)
                throw new UserClientException(reply.Status, $"The service refused memory type {type} ({reply.Status}): {message}");
            if (_fds.Status != FdTransferStatus.Ok || _fds.Count != 1)
                throw new UserClientException(UserClientStatus.Ok, $"The service granted memory type {type} but sent {(_fds.Status == FdTransferStatus.Ok ? _fds.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) : "too many")} descriptor(s) instead of one.");
            bool grantedReadOnly = (reply.Flags & UserClientWire.ReadOnlyFlag) != 0;
            if (reply.Length == 0 || reply.FileOffset > long.MaxValue || reply.Length > (ulong)long.MaxValue - reply.FileOffset)
                throw new UserClientException(UserClientStatus.Ok, $"The service granted an invalid range [0x{reply.FileOffset:x}, +0x{reply.Length:x}).");
            if (readOnly && !grantedReadOnly)
                throw new UserClientException(UserClientStatus.Ok, "The service granted a writable descriptor for a read-only request.");
            return new UserClientMemoryGrant(type, _fds.Take(0), reply.FileOffset, reply.Length, grantedReadOnly);
        }
        finally
        {
            _fds.Clear();
        }
    }

    private void ReadExactly(Span<byte> destination)
    {
        int timeout = (int)Math.Clamp(ReplyTimeout.TotalMilliseconds, 0, int.MaxValue);
        while (!destination.IsEmpty)
        {
            if (!_socket.WaitReadable(timeout))
                throw new TimeoutException($"The user-client service did not answer within {ReplyTimeout.TotalSeconds:0.#} s.");
            int n;
            try
            {
                n = _socket.Receive(destination, _fds);
            }
            catch (LinuxException e) when (e.ErrorName == "ECONNRESET")
            {
                n = 0;
            }
            if (n == 0) throw new UserClientException(UserClientStatus.Ok, "The user-client service closed the connection.");
            destination = destination[n..];
        }
    }

    /// <summary>Disconnects. Mappings made through this connection stay valid.</summary>
    public void Dispose()
    {
        using var _ = _lock.EnterScope();
        if (_disposed) return;
        _disposed = true;
        _fds.Dispose();
        _socket.Dispose();
    }
}
