using PciKit.Devices.Ivshmem;

namespace PciKit.Ivshmem;

/// <summary>
/// PciKit's ivshmem device model joined to an ivshmem server (QEMU's <c>ivshmem-server</c> or <see cref="IvshmemServer"/>)
/// as a peer, exactly where a QEMU <c>ivshmem-doorbell</c> device would sit: IVPosition reads the peer id the server gave,
/// BAR2 is the server's shared memory, a Doorbell write rings another peer's eventfd, and another peer's ring on one
/// of this peer's vectors raises the device's MSI-X vector (or IntrStatus/INTx for <see cref="IvshmemVariant.Intx"/>).
/// Serve <see cref="Device"/> over any transport (vfio-user, in process) and guests using it talk to guests using QEMU's
/// device through the same server.
/// </summary>
/// <remarks>
/// Owns the <see cref="IvshmemPeer"/> (socket, eventfds, shared-memory mapping). Dispose it only after the transport
/// serving <see cref="Device"/> has stopped: BAR2 is the peer's mapping and is unmapped with it. Rings arrive on the thread
/// pool (<see cref="IvshmemVector.Signaled"/>) and enter the device through <see cref="IvshmemDevice.Notify"/>, which takes
/// the device lock; a Doorbell write runs under the device lock and only writes an eventfd.
/// </remarks>
public sealed class IvshmemServerDevice : IDisposable
{
    private readonly Action<IvshmemVector, ulong> _onSignal;
    private bool _disposed;

    private IvshmemServerDevice(IvshmemPeer peer, IvshmemDevice device)
    {
        Peer = peer;
        Device = device;
        _onSignal = (vector, _) => Device.Notify(vector.Index);
        foreach (var vector in peer.Vectors) vector.Signaled += _onSignal;
    }

    /// <summary>The device model (realized; serve it over a transport).</summary>
    public IvshmemDevice Device { get; }

    /// <summary>The device's seat on the server: its id, the other peers, the shared memory.</summary>
    public IvshmemPeer Peer { get; }

    /// <summary>
    /// Connects to the server at <paramref name="socketPath"/> and builds the device on what it learns (peer id, vector
    /// count, shared memory). <paramref name="variant"/> must be <see cref="IvshmemVariant.Doorbell"/> (QEMU's
    /// <c>ivshmem-doorbell</c>) or <see cref="IvshmemVariant.Intx"/>; <c>ivshmem-plain</c> has no doorbells and takes no server.
    /// </summary>
    /// <exception cref="ArgumentException">The variant is <see cref="IvshmemVariant.Plain"/>.</exception>
    /// <exception cref="IvshmemException">The server could not be reached or broke the protocol.</exception>
    public static IvshmemServerDevice Connect(string socketPath, IvshmemVariant variant = IvshmemVariant.Doorbell, IvshmemPeerOptions? options = null)
    {
        if (variant == IvshmemVariant.Plain)
            throw new ArgumentException("ivshmem-plain has no doorbells and does not join an ivshmem server: use IvshmemVariant.Doorbell (or Intx), or build a plain IvshmemDevice over shared memory.", nameof(variant));
        var peer = IvshmemPeer.Connect(socketPath, options);
        try
        {
            var device = new IvshmemDevice(new IvshmemOptions
            {
                Variant = variant,
                SharedMemory = peer.SharedMemory,
                Link = new PeerLink(peer),
                Vectors = Math.Max(1, peer.VectorCount),
            });
            return new IvshmemServerDevice(peer, device);
        }
        catch
        {
            peer.Dispose();
            throw;
        }
    }

    /// <summary>Stops taking rings and leaves the server (the other peers see the departure); unmaps BAR2's memory.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var vector in Peer.Vectors) vector.Signaled -= _onSignal;
        Peer.Dispose();
    }

    /// <summary>The device's doorbells, through the peer's eventfds (never blocks: called under the device lock).</summary>
    private sealed class PeerLink(IvshmemPeer peer) : IIvshmemLink
    {
        public int OwnId => peer.Id;
        public int Vectors => peer.VectorCount;
        public bool Ring(int peerId, int vector) => peer.TryRing(peerId, vector);
    }
}
