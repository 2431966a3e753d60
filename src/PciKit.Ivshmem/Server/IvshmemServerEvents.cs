namespace PciKit.Ivshmem;

/// <summary>Why the server let a peer go.</summary>
public enum IvshmemPeerLeftReason
{
    /// <summary>The peer closed its connection (a VM was stopped, a program exited).</summary>
    HungUp,

    /// <summary>The peer sent bytes; the protocol has no peer-to-server messages, so QEMU's server drops it too.</summary>
    SentData,

    /// <summary>Sending to the peer failed (EPIPE, ECONNRESET …).</summary>
    ConnectionFailed,

    /// <summary>The peer did not read its messages and its queue reached <see cref="IvshmemServerOptions.MaxQueuedMessagesPerPeer"/>.</summary>
    NotReading,

    /// <summary>The server stopped.</summary>
    ServerStopped,
}

/// <summary>A peer joined or left an <see cref="IvshmemServer"/>.</summary>
public sealed class IvshmemServerPeerEventArgs(int peerId, IvshmemPeerLeftReason? reason) : EventArgs
{
    /// <summary>The peer's id.</summary>
    public int PeerId { get; } = peerId;

    /// <summary>Why it left; <see langword="null"/> for an arrival.</summary>
    public IvshmemPeerLeftReason? Reason { get; } = reason;
}

/// <summary>Counts an <see cref="IvshmemServer"/> keeps; read from any thread.</summary>
public sealed class IvshmemServerCounters
{
    internal long Accepted;
    internal long Left;
    internal long Misbehaved;
    internal long Refused;

    /// <summary>Peers that received their setup.</summary>
    public long PeersAccepted => Volatile.Read(ref Accepted);

    /// <summary>Peers that left for any reason.</summary>
    public long PeersLeft => Volatile.Read(ref Left);

    /// <summary>Peers dropped because they sent data, did not read, or their connection failed.</summary>
    public long PeersDropped => Volatile.Read(ref Misbehaved);

    /// <summary>Connections refused because all 65536 ids were in use or setting a peer up failed.</summary>
    public long ConnectionsRefused => Volatile.Read(ref Refused);
}
