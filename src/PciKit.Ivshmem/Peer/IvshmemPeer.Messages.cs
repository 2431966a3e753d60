using System.Diagnostics;
using PciKit.Linux;
using PciKit.Linux.Memory;

namespace PciKit.Ivshmem;

public sealed partial class IvshmemPeer
{
    /// <summary>
    /// Version (0, no descriptor), own id (0 … 65535, no descriptor), then messages until the shared memory arrived (QEMU's
    /// device accepts the rest in any order), then until this peer's own eventfds are complete.
    /// </summary>
    private void ReadSetup()
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(_options.ConnectTimeout.TotalSeconds * Stopwatch.Frequency);
        var (version, versionFd) = ReadSetupMessage(deadline, "the protocol version");
        if (versionFd is not null)
        {
            versionFd.Dispose();
            throw Violation("the server sent an invalid version message (with a descriptor)");
        }

        if (version != IvshmemWire.ProtocolVersion)
        {
            throw Violation($"the server sent protocol version {version}, expecting {IvshmemWire.ProtocolVersion}");
        }

        var (id, idFd) = ReadSetupMessage(deadline, "this peer's id");
        if (idFd is not null || id < 0 || id > IvshmemWire.MaxPeerId)
        {
            idFd?.Dispose();
            throw Violation($"the server sent an invalid ID message ({id}{(idFd is null ? "" : " with a descriptor")}); ids are 0 … {IvshmemWire.MaxPeerId}");
        }

        Id = (int)id;
        while (_memory is null)
        {
            var (value, fd) = ReadSetupMessage(deadline, "the shared memory");
            Process(value, fd);
        }

        ReadOwnVectors(deadline);
        lock (_lock)
        {
            _vectors = _own.Select((e, i) => new IvshmemVector(i, e, _options.Log)).ToArray();
            _setUp = true;
        }
    }

    /// <summary>
    /// Reads until this peer has its vectors: the expected count when given, or learned from the previous peer's eventfds
    /// (every peer of a server has the same count), or, alone on the server, once no message came for the settle time.
    /// </summary>
    private void ReadOwnVectors(long deadline)
    {
        int lastOther = -1;
        while (true)
        {
            if (_vectorLimit is int expected && _own.Count == expected)
            {
                return;
            }

            int wait = _vectorLimit is null ? Math.Min(Milliseconds(_options.SettleTime), Remaining(deadline)) : Remaining(deadline);
            ReadOutcome outcome = _reader.Read(wait, out long value, out SafeFd? fd);
            if (outcome == ReadOutcome.Timeout)
            {
                if (_vectorLimit is null)
                {
                    return; // settled
                }

                throw Violation($"the server sent {_own.Count} of this peer's {_vectorLimit} eventfds within {_options.ConnectTimeout.TotalSeconds:0.#} s");
            }

            if (outcome == ReadOutcome.EndOfStream)
            {
                throw Violation("the server closed the connection during setup");
            }

            if (_vectorLimit is null && fd is not null && value == Id && _own.Count == 0 && _remote.TryGetValue(lastOther, out var previous))
            {
                _vectorLimit = previous.Count;
            }

            Process(value, fd);
            if (fd is not null && value >= 0 && value != Id && _remote.ContainsKey((int)value))
            {
                lastOther = (int)value;
            }
        }
    }

    private (long Value, SafeFd? Fd) ReadSetupMessage(long deadline, string what)
    {
        ReadOutcome outcome = _reader.Read(Remaining(deadline), out long value, out SafeFd? fd);
        return outcome switch
        {
            ReadOutcome.Message => (value, fd),
            ReadOutcome.Timeout => throw Violation($"the server did not send {what} within {_options.ConnectTimeout.TotalSeconds:0.#} s"),
            _ => throw Violation($"the server closed the connection before sending {what}"),
        };
    }

    private void StartReader()
    {
        _thread = new Thread(ReadLoop) { IsBackground = true, Name = $"ivshmem peer {Id}" };
        _thread.UnsafeStart();
    }

    /// <summary>The reader thread: one message at a time until the server hangs up, the protocol breaks, or Dispose.</summary>
    private void ReadLoop()
    {
        try
        {
            while (true)
            {
                ReadOutcome outcome = _reader.Read(-1, out long value, out SafeFd? fd);
                if (outcome != ReadOutcome.Message)
                {
                    _completion.TrySetResult();
                    return;
                }

                Process(value, fd);
            }
        }
        catch (IvshmemProtocolException e)
        {
            if (!_disposed)
            {
                _log.Warn(e.Message);
            }

            try
            {
                _socket.Shutdown();
            }
            catch (LinuxException)
            {
                // Already gone.
            }

            _completion.TrySetException(e);
        }
        catch (Exception e) when (_disposed && e is ObjectDisposedException or LinuxException)
        {
            _completion.TrySetResult();
        }
    }

    /// <summary>
    /// Applies one message (QEMU's rules): -1 with a descriptor is the shared memory (once); an id with a descriptor is that
    /// peer's next vector; an id without one is its departure. Anything else is a protocol violation. Takes ownership of
    /// <paramref name="fd"/> on every path.
    /// </summary>
    private void Process(long value, SafeFd? fd)
    {
        EventHandler<IvshmemPeerEventArgs>? raise = null;
        int peerId = (int)Math.Clamp(value, -1, IvshmemWire.MaxPeerId);
        try
        {
            if (value < IvshmemWire.SharedMemory || value > IvshmemWire.MaxPeerId)
            {
                throw Violation($"the server sent an invalid message {value} (valid: -1 … {IvshmemWire.MaxPeerId})");
            }

            if (value == IvshmemWire.SharedMemory)
            {
                MapMemory(fd ?? throw Violation("the server sent a shared-memory message without a descriptor"));
                fd = null;
                return;
            }

            lock (_lock)
            {
                if (_disposed)
                {
                    return;
                }

                raise = fd is null ? Depart(peerId) : Arrive(peerId, ref fd);
            }
        }
        finally
        {
            fd?.Dispose();
        }

        if (raise is null)
        {
            return;
        }

        try
        {
            raise(this, new IvshmemPeerEventArgs(peerId));
        }
        catch (Exception e)
        {
            _log.Warn($"a peer event handler threw {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Adds a vector (under the lock); returns PeerConnected when a later peer became complete.</summary>
    private EventHandler<IvshmemPeerEventArgs>? Arrive(int peerId, ref SafeFd? fd)
    {
        bool own = peerId == Id;
        List<EventFd>? fds = own ? _own : _remote.GetValueOrDefault(peerId);
        int limit = _vectorLimit ?? IvshmemWire.MaxVectors;
        if ((fds?.Count ?? 0) >= limit)
        {
            throw Violation($"the server sent more eventfds for peer {peerId} than the {limit} vector(s) a peer has");
        }

        if (fds is null)
        {
            fds = [];
            _remote.Add(peerId, fds);
        }

        fds.Add(EventFd.FromHandle(fd!));
        fd = null;
        if (own && _setUp)
        {
            // Alone on the server, the count was learned by waiting; an eventfd that came later is one more vector.
            _vectors = [.. _vectors, new IvshmemVector(_vectors.Length, fds[^1], _options.Log)];
            return null;
        }

        return !own && _setUp && fds.Count == Math.Max(1, VectorCount) ? PeerConnected : null;
    }

    /// <summary>Forgets a departed peer (under the lock) and closes its eventfds; returns PeerDisconnected if it was known.</summary>
    private EventHandler<IvshmemPeerEventArgs>? Depart(int peerId)
    {
        if (peerId == Id)
        {
            throw Violation($"the server announced the departure of this peer's own id {peerId}");
        }

        if (!_remote.Remove(peerId, out List<EventFd>? fds))
        {
            return null; // a peer with no vectors (vectors=0), or one this peer never heard of: nothing to forget
        }

        fds.ForEach(e => e.Dispose());
        return _setUp ? PeerDisconnected : null;
    }

    private void MapMemory(SafeFd fd)
    {
        try
        {
            if (_memory is not null)
            {
                throw Violation("the server sent a second shared-memory message");
            }

            ulong size = fd.GetSize();
            if (size == 0)
            {
                throw Violation("the server's shared memory has size 0");
            }

            _memory = MappedMemoryBlock.Map(fd, 0, size, _options.Access, keepFd: true);
            SharedMemorySize = size;
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    private static IvshmemProtocolException Violation(string message) => new($"ivshmem: {message}; closing the connection.");

    private static int Remaining(long deadline) =>
        (int)Math.Max(0, (deadline - Stopwatch.GetTimestamp()) * 1000 / Stopwatch.Frequency);

    private static int Milliseconds(TimeSpan t) => (int)Math.Min(int.MaxValue, Math.Ceiling(t.TotalMilliseconds));
}
