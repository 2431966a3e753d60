using PciKit.Linux;

namespace PciKit.Ivshmem;

public sealed partial class IvshmemServer
{
    private const int FixedSlots = 2; // the wake eventfd and the listener
    private readonly List<ServerPeer> _peers = [];
    private readonly Dictionary<int, ServerPeer> _byId = [];
    private PollEntry[] _pollSet = new PollEntry[FixedSlots + 8];
    private int _nextId;

    /// <summary>The id the next peer is offered first (tests pin the counter; QEMU starts at 0).</summary>
    internal int NextIdForTesting
    {
        set => _nextId = value & IvshmemWire.MaxPeerId;
    }

    private void Run()
    {
        try
        {
            while (!_stopping)
            {
                int count = FillPollSet();
                Poll.Wait(_pollSet.AsSpan(0, count), -1); // the loop thread owns every descriptor in the set: none closes meanwhile
                if (_stopping)
                {
                    break;
                }

                ServeReadyPeers(count);
                if ((_pollSet[1].ReturnedEvents & PollEvents.Readable) != 0)
                {
                    AcceptPending();
                }

                DropFailedPeers();
            }

            Shutdown();
            _completion.TrySetResult();
        }
        catch (Exception e)
        {
            _log.Warn($"the server loop failed and stops: {e.Message}");
            try
            {
                Shutdown();
            }
            finally
            {
                _completion.TrySetException(e);
            }
        }
    }

    /// <summary>Fills the poll set: wake eventfd, listener, then each peer (POLLOUT as well while it has queued messages).</summary>
    private int FillPollSet()
    {
        int count = FixedSlots + _peers.Count;
        if (_pollSet.Length < count)
        {
            _pollSet = new PollEntry[Math.Max(count, _pollSet.Length * 2)];
        }

        _pollSet[0] = new PollEntry(_wake.Handle, PollEvents.Readable);
        _pollSet[1] = new PollEntry(_listener.Handle, PollEvents.Readable);
        for (int i = 0; i < _peers.Count; i++)
        {
            ServerPeer peer = _peers[i];
            PollEvents events = PollEvents.Readable;
            if (peer.HasQueue)
            {
                events |= PollEvents.Writable;
            }

            _pollSet[FixedSlots + i] = new PollEntry(peer.Socket.Handle, events);
        }

        return count;
    }

    /// <summary>
    /// A readable peer socket means data (a protocol violation) or a hang-up: either way the peer is dropped. A writable one
    /// gets its queue flushed. The peer list is unchanged until <see cref="DropFailedPeers"/>, so slots still match.
    /// </summary>
    private void ServeReadyPeers(int count)
    {
        for (int slot = FixedSlots; slot < count; slot++)
        {
            PollEvents ready = _pollSet[slot].ReturnedEvents;
            if (ready == PollEvents.None)
            {
                continue;
            }

            ServerPeer peer = _peers[slot - FixedSlots];
            if ((ready & (PollEvents.Readable | PollEvents.HangUp | PollEvents.Error | PollEvents.Invalid)) != 0)
            {
                peer.DropReason ??= ReadDeparture(peer);
            }
            else if ((ready & PollEvents.Writable) != 0 && !peer.Flush())
            {
                peer.DropReason ??= IvshmemPeerLeftReason.ConnectionFailed;
            }
        }
    }

    /// <summary>Reads what made the socket readable: end of stream (hung up) or bytes (closing any descriptors sent along).</summary>
    private IvshmemPeerLeftReason ReadDeparture(ServerPeer peer)
    {
        Span<byte> buffer = stackalloc byte[64];
        try
        {
            using var fds = new ReceivedFds(0); // capacity 0: descriptors a peer sends are closed on arrival
            if (!peer.Socket.TryReceive(buffer, fds, out int received))
            {
                return IvshmemPeerLeftReason.HungUp; // POLLHUP/POLLERR without data
            }

            if (received == 0)
            {
                return IvshmemPeerLeftReason.HungUp;
            }

            _log.Warn($"peer {peer.Id} sent {received} byte(s){(fds.DiscardedCount > 0 ? $" and {fds.DiscardedCount} descriptor(s)" : "")}; peers must not send anything: dropping it");
            return IvshmemPeerLeftReason.SentData;
        }
        catch (LinuxException)
        {
            return IvshmemPeerLeftReason.HungUp; // ECONNRESET
        }
    }

    /// <summary>Drops every peer marked for it; announcing a departure may mark others (their sockets failed), so loop.</summary>
    private void DropFailedPeers()
    {
        for (int i = 0; i < _peers.Count;)
        {
            ServerPeer peer = _peers[i];
            if (peer.DropReason is null && peer.QueuedCount > _options.MaxQueuedMessagesPerPeer)
            {
                _log.Warn($"peer {peer.Id} does not read its messages ({peer.QueuedCount} queued): dropping it");
                peer.DropReason = IvshmemPeerLeftReason.NotReading;
            }

            if (peer.DropReason is { } reason)
            {
                Remove(peer, reason);
                i = 0; // announcements may have marked peers before this index
                continue;
            }

            i++;
        }
    }

    /// <summary>On stop: free the peers one by one, announcing each departure to the rest (QEMU's order), then the files.</summary>
    private void Shutdown()
    {
        while (_peers.Count > 0)
        {
            Remove(_peers[0], _peers[0].DropReason ?? IvshmemPeerLeftReason.ServerStopped);
        }

        _listener.Dispose(); // removes the socket file if it is still ours
        if (_options.HugeTlbDirectory is null && _options.UnlinkSharedMemoryOnStop)
        {
            SharedMemorySetup.TryUnlink(_options.SharedMemoryName);
        }

        _memory.Dispose();
        _wake.Dispose();
        _log.Info("stopped");
    }
}
