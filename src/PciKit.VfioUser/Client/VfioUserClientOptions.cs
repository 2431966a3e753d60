namespace PciKit.VfioUser.Client;

/// <summary>How a <see cref="VfioUserClient"/> lets the server's device reach the DMA buffers the driver allocates.</summary>
public enum DmaMode
{
    /// <summary>
    /// Each buffer is a memfd sent with DMA_MAP; the server maps it and the device reads and writes it directly
    /// (memcpy speed). The default.
    /// </summary>
    SharedMemory,

    /// <summary>
    /// Buffers are plain process memory mapped without an fd; every device access comes back as a DMA_READ or
    /// DMA_WRITE message that the client serves while it waits for a reply (one round trip per access).
    /// </summary>
    Messages,
}

/// <summary>Options of <see cref="VfioUserClient.Connect(string, VfioUserClientOptions?)"/>.</summary>
public sealed record VfioUserClientOptions
{
    /// <summary>How DMA buffers are shared (default <see cref="DmaMode.SharedMemory"/>).</summary>
    public DmaMode DmaMode { get; init; } = DmaMode.SharedMemory;

    /// <summary>
    /// How long one request waits for the start of its reply (default 5 s, QEMU's default); then the call throws
    /// <see cref="TimeoutException"/>. <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> waits forever.
    /// </summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// When true (the default), every register access checks the attached interrupt eventfds after its reply and
    /// delivers what the server signalled before replying, so a driver observes an interrupt caused by a register
    /// write when that write returns (as on the in-process bus). Costs one non-blocking read(2) per attached vector per
    /// access. When false, interrupts are delivered only by the shared epoll thread, a few microseconds later.
    /// </summary>
    public bool DeliverInterruptsWithReplies { get; init; } = true;

    /// <summary>The PCI address the function reports (vfio-user does not carry one); 0000:00:00.0 by default.</summary>
    public PciAddress Address { get; init; }
}

/// <summary>One vfio-user region as the server describes it.</summary>
/// <param name="Index">0–5 BARs, 6 ROM, 7 config, 8 VGA.</param>
/// <param name="Size">Size in bytes (0: absent).</param>
/// <param name="Readable">READ flag.</param>
/// <param name="Writable">WRITE flag.</param>
/// <param name="Mappable">MMAP flag (the server sent an fd).</param>
/// <param name="SparseAreas">With a SPARSE_MMAP capability: the mmap-able parts; empty when the whole region is.</param>
public sealed record VfioUserRegionInfo(int Index, ulong Size, bool Readable, bool Writable, bool Mappable, IReadOnlyList<(ulong Offset, ulong Size)> SparseAreas);
