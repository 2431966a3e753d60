using PciKit.Device;
using PciKit.Linux;

namespace PciKit.Ivshmem;

/// <summary>How <see cref="IvshmemPeer.Connect"/> connects.</summary>
public sealed record IvshmemPeerOptions
{
    /// <summary>
    /// The vectors this peer expects (as QEMU's <c>vectors=</c> property): setup ends as soon as that many own eventfds
    /// arrived, and a server that sends more eventfds for any peer is refused. Null: learn the count from the server — from
    /// another peer's eventfds when there is one, otherwise by waiting <see cref="SettleTime"/> for more.
    /// </summary>
    public int? Vectors { get; init; }

    /// <summary>How long the whole setup may take before <see cref="IvshmemPeer.Connect"/> gives up.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Without <see cref="Vectors"/> and with no other peer connected, setup ends after this long without another message
    /// (the server sends a peer's setup in one burst). Own eventfds that arrive later are still added.
    /// </summary>
    public TimeSpan SettleTime { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Protection of the shared memory mapping.</summary>
    public MappingAccess Access { get; init; } = MappingAccess.ReadWrite;

    /// <summary>Where protocol problems and handler failures are logged.</summary>
    public IPciLog Log { get; init; } = PciLog.Null;

    internal void Validate()
    {
        if (Vectors is < 0 or > IvshmemWire.MaxVectors)
        {
            throw new ArgumentOutOfRangeException(nameof(Vectors), Vectors, $"An ivshmem peer has 0 … {IvshmemWire.MaxVectors} vectors.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ConnectTimeout, TimeSpan.Zero, nameof(ConnectTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(SettleTime, TimeSpan.Zero, nameof(SettleTime));
        ArgumentNullException.ThrowIfNull(Log, nameof(Log));
    }
}

/// <summary>Another peer of the same server, as this peer knows it.</summary>
/// <param name="Id">Its id (what a guest reads from IVPosition).</param>
/// <param name="Vectors">How many of its vectors this peer can ring.</param>
public readonly record struct IvshmemRemotePeer(int Id, int Vectors);

/// <summary>Another peer joined or left.</summary>
public sealed class IvshmemPeerEventArgs(int peerId) : EventArgs
{
    /// <summary>Its id.</summary>
    public int PeerId { get; } = peerId;
}
