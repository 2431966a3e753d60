using PciKit.Linux;

namespace PciKit.Ivshmem;

public sealed partial class IvshmemServer
{
    private void AcceptPending()
    {
        while (!_stopping)
        {
            UnixSocket? socket;
            try
            {
                socket = _listener.TryAccept();
            }
            catch (LinuxException e)
            {
                // EMFILE/ENFILE/ENOMEM: the connection stays pending; say so (rate-limited) and serve the others.
                _log.Warn($"cannot accept a peer: {e.Message}");
                Interlocked.Increment(ref Counters.Refused);
                return;
            }

            if (socket is null)
            {
                return;
            }

            Admit(socket);
        }
    }

    /// <summary>
    /// QEMU's order: version, id, shared memory to the newcomer; the newcomer's eventfds to every existing peer; every existing
    /// peer's eventfds to the newcomer; the newcomer's own eventfds to itself. Then it joins the list.
    /// </summary>
    private void Admit(UnixSocket socket)
    {
        int? id = AllocateId();
        if (id is null)
        {
            _log.Warn("all 65536 peer ids are in use: refusing a connection");
            Interlocked.Increment(ref Counters.Refused);
            socket.Dispose();
            return;
        }

        ServerPeer peer;
        var vectors = new EventFd[_options.Vectors];
        int created = 0;
        try
        {
            socket.IsNonBlocking = true;
            for (; created < vectors.Length; created++)
            {
                // Blocking, unlike QEMU's server: a peer's blocking read(2) is its cheapest wait. QEMU's device makes the shared
                // open file description O_NONBLOCK when it receives the descriptor; IvshmemPeer handles both.
                vectors[created] = new EventFd(0, EventFdOptions.None);
            }

            peer = new ServerPeer(id.Value, socket, vectors);
        }
        catch (LinuxException e)
        {
            _log.Warn($"cannot set up a peer (eventfd: {e.Message}): refusing the connection");
            Interlocked.Increment(ref Counters.Refused);
            for (int i = 0; i < created; i++)
            {
                vectors[i].Dispose();
            }

            socket.Dispose();
            return;
        }

        if (!peer.Send(IvshmemWire.ProtocolVersion, null) || !peer.Send(peer.Id, null) || !peer.Send(IvshmemWire.SharedMemory, _memory))
        {
            // Gone before its setup (QEMU gives up on it the same way); the others never heard of it.
            Interlocked.Increment(ref Counters.Refused);
            peer.Dispose();
            return;
        }

        foreach (ServerPeer other in _peers)
        {
            foreach (EventFd vector in peer.Vectors)
            {
                if (!other.Send(peer.Id, vector.Handle))
                {
                    other.DropReason ??= IvshmemPeerLeftReason.ConnectionFailed;
                    break;
                }
            }
        }

        foreach (ServerPeer other in _peers)
        {
            foreach (EventFd vector in other.Vectors)
            {
                _ = peer.Send(other.Id, vector.Handle);
            }
        }

        foreach (EventFd vector in peer.Vectors)
        {
            _ = peer.Send(peer.Id, vector.Handle);
        }

        _peers.Add(peer);
        _byId.Add(peer.Id, peer);
        PublishIds();
        Interlocked.Increment(ref Counters.Accepted);
        _log.Info($"peer {peer.Id} connected ({_peers.Count} connected)");
        Raise(PeerConnected, new IvshmemServerPeerEventArgs(peer.Id, null));
    }

    /// <summary>QEMU's allocation: the counter's value if free, else the next free id after it (wrapping at 65536).</summary>
    private int? AllocateId()
    {
        for (int i = 0; i <= IvshmemWire.MaxPeerId; i++)
        {
            int candidate = (_nextId + i) & IvshmemWire.MaxPeerId;
            if (!_byId.ContainsKey(candidate))
            {
                _nextId = (candidate + 1) & IvshmemWire.MaxPeerId;
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Closes a peer's socket, tells the others (its id without a descriptor), then closes its eventfds.</summary>
    private void Remove(ServerPeer peer, IvshmemPeerLeftReason reason)
    {
        _peers.Remove(peer);
        _byId.Remove(peer.Id);
        PublishIds();
        peer.Socket.Dispose();
        foreach (ServerPeer other in _peers)
        {
            if (!other.Send(peer.Id, null))
            {
                other.DropReason ??= IvshmemPeerLeftReason.ConnectionFailed;
            }
        }

        peer.Dispose();
        Interlocked.Increment(ref Counters.Left);
        if (reason is IvshmemPeerLeftReason.SentData or IvshmemPeerLeftReason.NotReading or IvshmemPeerLeftReason.ConnectionFailed)
        {
            Interlocked.Increment(ref Counters.Misbehaved);
        }

        _log.Info($"peer {peer.Id} left ({ReasonText(reason)}); {_peers.Count} connected");
        Raise(PeerDisconnected, new IvshmemServerPeerEventArgs(peer.Id, reason));
    }

    /// <summary>Runs a handler on the loop thread; a handler that throws is logged, never the end of the server.</summary>
    private void Raise(EventHandler<IvshmemServerPeerEventArgs>? handler, IvshmemServerPeerEventArgs args)
    {
        try
        {
            handler?.Invoke(this, args);
        }
        catch (Exception e)
        {
            _log.Warn($"a {(args.Reason is null ? nameof(PeerConnected) : nameof(PeerDisconnected))} handler threw {e.GetType().Name}: {e.Message}");
        }
    }

    private void PublishIds()
    {
        var ids = new int[_peers.Count];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = _peers[i].Id;
        }

        _peerIds = ids;
    }

    private static string ReasonText(IvshmemPeerLeftReason reason) => reason switch
    {
        IvshmemPeerLeftReason.HungUp => "hung up",
        IvshmemPeerLeftReason.SentData => "sent data",
        IvshmemPeerLeftReason.ConnectionFailed => "connection failed",
        IvshmemPeerLeftReason.NotReading => "not reading",
        _ => "server stopped",
    };
}
