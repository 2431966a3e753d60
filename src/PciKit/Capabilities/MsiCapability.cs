using System.Numerics;
using PciKit.Config;
using PciKit.Device;

namespace PciKit.Capabilities;

/// <summary>
/// Message Signalled Interrupts (ID 0x05): 32- or 64-bit message address, 1–32 vectors (a power of two), optional
/// per-vector masking with pending bits. A vector signalled while masked sets its pending bit and is delivered when
/// the driver unmasks it. Messages are sent only while MSI is enabled and Bus Master is on.
/// </summary>
public sealed class MsiCapability : PciCapability
{
    private const int Control = 2, AddressLow = 4;
    private const ushort EnableBit = 0x1, MmcMask = 0xE, MmeMask = 0x70, Is64Bit = 0x80, PerVectorMasking = 0x100;

    /// <summary>Creates the capability.</summary>
    /// <param name="vectors">Vectors the function can use: 1, 2, 4, 8, 16 or 32.</param>
    /// <param name="is64Bit">64-bit message address capable.</param>
    /// <param name="perVectorMask">Per-vector masking capable (adds mask and pending registers).</param>
    public MsiCapability(int vectors = 1, bool is64Bit = true, bool perVectorMask = false)
    {
        if (vectors is < 1 or > 32 || !BitOperations.IsPow2(vectors))
            throw new PciDefinitionException($"MSI supports 1, 2, 4, 8, 16 or 32 vectors; {vectors} is not one of them.");
        Vectors = vectors;
        Is64BitCapable = is64Bit;
        PerVectorMaskCapable = perVectorMask;
    }

    /// <summary>Vectors the function can use.</summary>
    public int Vectors { get; }
    /// <summary>64-bit address capable.</summary>
    public bool Is64BitCapable { get; }
    /// <summary>Per-vector masking capable.</summary>
    public bool PerVectorMaskCapable { get; }

    /// <inheritdoc />
    public override byte Id => (byte)PciCapabilityId.Msi;

    /// <inheritdoc />
    public override int Length => (Is64BitCapable ? 14 : 10) + (PerVectorMaskCapable ? 10 : 0);

    private int DataOffset => Is64BitCapable ? 0xC : 0x8;
    private int MaskOffset => Is64BitCapable ? 0x10 : 0xC;
    private int PendingOffset => MaskOffset + 4;

    /// <summary>MSI Enable is set.</summary>
    public bool Enabled => (Get16(Control) & EnableBit) != 0;

    /// <summary>Vectors the driver enabled (2^Multiple Message Enable, capped at <see cref="Vectors"/>).</summary>
    public int EnabledVectors => Math.Min(Vectors, 1 << ((Get16(Control) & MmeMask) >> 4));

    /// <summary>The programmed message address.</summary>
    public ulong MessageAddress => Get32(AddressLow) | (Is64BitCapable ? (ulong)Get32(8) << 32 : 0);

    /// <summary>The programmed message data.</summary>
    public ushort MessageData => Get16(DataOffset);

    /// <summary>The mask bits (0 when per-vector masking is not supported).</summary>
    public uint MaskBits => PerVectorMaskCapable ? Get32(MaskOffset) : 0;

    /// <summary>The pending bits (0 when per-vector masking is not supported).</summary>
    public uint PendingBits => PerVectorMaskCapable ? Get32(PendingOffset) : 0;

    /// <inheritdoc />
    protected override void Initialize()
    {
        ushort control = (ushort)(BitOperations.Log2((uint)Vectors) << 1);
        if (Is64BitCapable) control |= Is64Bit;
        if (PerVectorMaskCapable) control |= PerVectorMasking;
        Set16(Control, control);
        // Multiple Message Enable is handled in OnConfigWrite (values above the capable count are clamped).
        Writable(Control, 2, EnableBit);
        Writable(AddressLow, 4, 0xFFFF_FFFC);
        if (Is64BitCapable) Writable(8, 4, 0xFFFF_FFFF);
        Writable(DataOffset, 2, 0xFFFF);
        if (PerVectorMaskCapable) Writable(MaskOffset, 4, Vectors == 32 ? 0xFFFF_FFFF : (1u << Vectors) - 1);
    }

    /// <inheritdoc />
    public override void OnConfigWrite(int offset, int size, uint value)
    {
        if (Touches(offset, size, Control, 1) && offset <= Offset + Control)
        {
            int shift = 8 * (Offset + Control - offset);
            int mme = (int)((value >> shift) & MmeMask) >> 4;
            int mmc = (Get16(Control) & MmcMask) >> 1;
            mme = Math.Min(mme, mmc);
            Set16(Control, (ushort)((Get16(Control) & ~MmeMask) | (mme << 4)));
        }
        if (Touches(offset, size, Control, 2) || (PerVectorMaskCapable && Touches(offset, size, MaskOffset, 4)))
        {
            Device.Interrupts.OnMsiStateChanged();
            DeliverPending();
        }
    }

    /// <inheritdoc />
    protected internal override void OnReset() { }

    /// <summary>
    /// Signals <paramref name="vector"/>. Returns true if a message was sent; false if MSI is disabled, the vector is
    /// not enabled, it is masked (its pending bit is set), or Bus Master is off. Caller holds the device lock.
    /// </summary>
    internal bool Notify(int vector)
    {
        if (!Enabled || (uint)vector >= (uint)EnabledVectors) return false;
        if (PerVectorMaskCapable && (Get32(MaskOffset) & (1u << vector)) != 0)
        {
            Set32(PendingOffset, Get32(PendingOffset) | (1u << vector));
            return false;
        }
        return Send(vector);
    }

    private bool Send(int vector)
    {
        int enabled = EnabledVectors;
        uint data = (uint)(MessageData & ~(enabled - 1)) | (uint)vector;
        return Device.Interrupts.SendMessage(new MsiMessage(PciInterruptKind.Msi, vector, MessageAddress, data));
    }

    private void DeliverPending()
    {
        if (!PerVectorMaskCapable || !Enabled) return;
        uint pending = Get32(PendingOffset) & ~Get32(MaskOffset);
        while (pending != 0)
        {
            int v = BitOperations.TrailingZeroCount(pending);
            pending &= pending - 1;
            if (v >= EnabledVectors) continue;
            Set32(PendingOffset, Get32(PendingOffset) & ~(1u << v));
            Send(v);
        }
    }
}
