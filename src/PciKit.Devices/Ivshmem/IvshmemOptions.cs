using PciKit.Memory;

namespace PciKit.Devices.Ivshmem;

/// <summary>Which ivshmem device to model.</summary>
public enum IvshmemVariant
{
    /// <summary>
    /// QEMU's <c>ivshmem-plain</c>: BAR0 registers and BAR2 shared memory; no interrupts (no MSI-X, Interrupt Pin 0,
    /// IVPosition 0, doorbell writes ignored).
    /// </summary>
    Plain,

    /// <summary>
    /// QEMU's <c>ivshmem-doorbell</c>: adds an MSI-X capability at 0x40 with its table and PBA in BAR1 and a link to
    /// peers; a peer's interrupt raises the MSI-X vector of the same number (Interrupt Pin 0, IntrStatus never set).
    /// </summary>
    Doorbell,

    /// <summary>
    /// The INTx device of the specification's revision 0 (QEMU's removed <c>ivshmem,msi=off</c>): no MSI-X, Interrupt
    /// Pin A; a peer's interrupt sets IntrStatus to 1 and INTx is asserted while <c>IntrStatus &amp; IntrMask</c> is
    /// non-zero. For guests and drivers that cannot use MSI-X.
    /// </summary>
    Intx,
}

/// <summary>How to build an <see cref="IvshmemDevice"/>.</summary>
public sealed record IvshmemOptions
{
    /// <summary>Default shared-memory size: 4 MiB, as QEMU's ivshmem-server.</summary>
    public const ulong DefaultSharedMemorySize = 4 << 20;

    /// <summary>The variant (default <see cref="IvshmemVariant.Plain"/>).</summary>
    public IvshmemVariant Variant { get; init; } = IvshmemVariant.Plain;

    /// <summary>
    /// The memory behind BAR2, supplied by the caller (e.g. an ivshmem server's shared-memory fd, mapped), who keeps
    /// owning it; its length must be a power of two of at least 4 KiB. When null, the device allocates
    /// <see cref="SharedMemorySize"/> bytes from <see cref="Allocator"/>.
    /// </summary>
    public MemoryBlock? SharedMemory { get; init; }

    /// <summary>Size of BAR2 when the device allocates its memory (power of two, at least 4 KiB; default 4 MiB).</summary>
    public ulong SharedMemorySize { get; init; } = DefaultSharedMemorySize;

    /// <summary>
    /// Where the device allocates BAR2 when <see cref="SharedMemory"/> is null: process memory by default; shareable
    /// memory (Linux's <c>SharedMemoryAllocator</c>) lets vfio-user clients and user-client apps map it.
    /// </summary>
    public IMemoryAllocator? Allocator { get; init; }

    /// <summary>The link to peers (doorbell and INTx variants; null: no peers, IVPosition reads 0).</summary>
    public IIvshmemLink? Link { get; init; }

    /// <summary>Interrupt vectors (doorbell and INTx variants; 1–2048). Default: the link's count, else 1 (QEMU's default).</summary>
    public int? Vectors { get; init; }
}
