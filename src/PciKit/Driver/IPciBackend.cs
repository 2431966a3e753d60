using PciKit.Device;

namespace PciKit.Driver;

/// <summary>
/// What a transport supplies so that <see cref="PciFunction"/> can drive a PCI function: the in-process host bus,
/// a vfio-user client, later Linux sysfs/VFIO. It mirrors the VFIO model (config space, BAR regions, region
/// mappings, DMA mappings, interrupt triggers); everything above it — capability walks, MSI/MSI-X programming,
/// BAR typing, session rules — is written once in <see cref="PciFunction"/>.
/// </summary>
public interface IPciBackend : IDisposable
{
    /// <summary>Address of the function.</summary>
    PciAddress Address { get; }

    /// <summary>A human-readable description ("in-process", "vfio-user:/run/dev.sock" …).</summary>
    string Description { get; }

    /// <summary>256 or 4096.</summary>
    int ConfigSpaceSize { get; }

    /// <summary>Claims the function exclusively; throws <see cref="PciDriverException"/> if another session holds it.</summary>
    void Open();

    /// <summary>Releases the claim.</summary>
    void Close();

    /// <summary>Configuration read of 1, 2 or 4 bytes (validated by the caller).</summary>
    uint ConfigRead(int offset, int size);

    /// <summary>Configuration write of 1, 2 or 4 bytes (validated by the caller).</summary>
    void ConfigWrite(int offset, int size, uint value);

    /// <summary>Size of BAR <paramref name="index"/> (0–5, 6 = ROM); 0 when not implemented.</summary>
    ulong GetBarSize(int index);

    /// <summary>BAR read of 1, 2, 4 or 8 bytes (validated by the caller).</summary>
    ulong BarRead(int index, ulong offset, int size);

    /// <summary>BAR write of 1, 2, 4 or 8 bytes (validated by the caller).</summary>
    void BarWrite(int index, ulong offset, int size, ulong value);

    /// <summary>Maps [<paramref name="offset"/>, +<paramref name="length"/>) of BAR <paramref name="index"/> into this process, or returns null with a reason when that range is not plain memory.</summary>
    PciMemoryMapping? TryMapBar(int index, ulong offset, ulong length, out string? reason);

    /// <summary>Allocates a DMA buffer the device can reach at an address below 2^<paramref name="addressBits"/>.</summary>
    DmaBuffer AllocateDmaBuffer(ulong length, int addressBits);

    /// <summary>
    /// Routes <paramref name="count"/> vectors of <paramref name="kind"/> to <paramref name="receiver"/>. Returns the
    /// message (address, data) the driver must program for each vector (MSI: only element 0 is used, the data's low
    /// bits select the vector), or an empty list when the backend programs the device itself or for INTx.
    /// </summary>
    IReadOnlyList<MsiMessage> AttachInterrupts(PciInterruptKind kind, int count, IInterruptReceiver receiver);

    /// <summary>Stops routing <paramref name="kind"/>.</summary>
    void DetachInterrupts(PciInterruptKind kind);

    /// <summary>Resets the function when the driver cannot do it through configuration space.</summary>
    void Reset(PciResetKind kind);
}

/// <summary>Receives interrupts routed by a backend.</summary>
public interface IInterruptReceiver
{
    /// <summary>Vector <paramref name="vector"/> fired. Must not block.</summary>
    void Signal(int vector);
}
