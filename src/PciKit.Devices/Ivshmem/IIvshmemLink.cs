namespace PciKit.Devices.Ivshmem;

/// <summary>
/// The doorbell side of an ivshmem device: what connects it to its peers (an ivshmem server's eventfds, or
/// <see cref="IvshmemLoopback"/> in one process). The device calls <see cref="Ring"/> when the guest writes the
/// Doorbell register; the link calls <see cref="IvshmemDevice.Notify"/> when one of the device's own vectors is
/// signalled.
/// </summary>
/// <remarks>
/// <see cref="Ring"/> is called under the device's lock: it must not block and must not call into another device
/// synchronously (two devices ringing each other would deadlock). Write an eventfd, or queue the delivery.
/// </remarks>
public interface IIvshmemLink
{
    /// <summary>This device's peer id, 0–65535 (what the IVPosition register reads).</summary>
    int OwnId { get; }

    /// <summary>Interrupt vectors per peer that the link carries.</summary>
    int Vectors { get; }

    /// <summary>
    /// Interrupts <paramref name="peer"/> on <paramref name="vector"/>. Returns false, without side effects, when that
    /// peer is not connected or has fewer vectors (the device then ignores the doorbell write, as QEMU does).
    /// </summary>
    bool Ring(int peer, int vector);
}
