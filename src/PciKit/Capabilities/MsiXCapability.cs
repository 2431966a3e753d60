using System.Buffers.Binary;
using System.Numerics;
using PciKit.Config;
using PciKit.Device;

namespace PciKit.Capabilities;

/// <summary>
/// MSI-X (ID 0x11): a vector table and a pending-bit array (PBA) inside BARs of the device. Supports the function
/// mask and per-vector masks; a vector signalled while masked sets its PBA bit and is delivered on unmask. Table
/// and PBA accept aligned 4- and 8-byte accesses. Messages are sent only while MSI-X is enabled and Bus Master is on.
/// </summary>
public sealed class MsiXCapability : PciCapability
{
    private const int Control = 2, TableReg = 4, PbaReg = 8;
    private const ushort EnableBit = 0x8000, FunctionMaskBit = 0x4000;
    private const int EntrySize = 16, VectorControl = 12;

    private readonly byte[] _table;
    private readonly ulong[] _pba;

    /// <summary>Creates the capability.</summary>
    /// <param name="vectors">Table size, 1–2048.</param>
    /// <param name="tableBar">BAR index (0–5) holding the table.</param>
    /// <param name="tableOffset">Offset of the table in that BAR (8-byte aligned).</param>
    /// <param name="pbaBar">BAR index holding the PBA.</param>
    /// <param name="pbaOffset">Offset of the PBA (8-byte aligned; must not overlap the table).</param>
    public MsiXCapability(int vectors, int tableBar, ulong tableOffset, int pbaBar, ulong pbaOffset)
    {
        if (vectors is < 1 or > 2048) throw new PciDefinitionException($"MSI-X supports 1 to 2048 vectors; {vectors} is not in range.");
        if (tableBar is < 0 or > 5 || pbaBar is < 0 or > 5) throw new PciDefinitionException("The MSI-X table and PBA live in BARs 0–5.");
        if ((tableOffset & 7) != 0 || (pbaOffset & 7) != 0) throw new PciDefinitionException("The MSI-X table and PBA offsets must be 8-byte aligned (the low 3 bits hold the BAR index).");
        if (tableOffset > uint.MaxValue || pbaOffset > uint.MaxValue) throw new PciDefinitionException("The MSI-X table and PBA offsets must fit in 32 bits.");
        Vectors = vectors;
        TableBar = tableBar;
        TableOffset = tableOffset;
        PbaBar = pbaBar;
        PbaOffset = pbaOffset;
        if (tableBar == pbaBar && tableOffset < pbaOffset + PbaSize && pbaOffset < tableOffset + TableSize)
            throw new PciDefinitionException($"The MSI-X table [0x{tableOffset:x}, +0x{TableSize:x}) and PBA [0x{pbaOffset:x}, +0x{PbaSize:x}) overlap in BAR {tableBar}.");
        _table = new byte[vectors * EntrySize];
        _pba = new ulong[(vectors + 63) / 64];
        ResetTable();
    }

    /// <summary>Table size.</summary>
    public int Vectors { get; }
    /// <summary>BAR holding the table.</summary>
    public int TableBar { get; }
    /// <summary>Offset of the table.</summary>
    public ulong TableOffset { get; }
    /// <summary>BAR holding the PBA.</summary>
    public int PbaBar { get; }
    /// <summary>Offset of the PBA.</summary>
    public ulong PbaOffset { get; }
    /// <summary>Table size in bytes.</summary>
    public ulong TableSize => (ulong)Vectors * EntrySize;
    /// <summary>PBA size in bytes (whole qwords).</summary>
    public ulong PbaSize => (ulong)(Vectors + 63) / 64 * 8;

    /// <inheritdoc />
    public override byte Id => (byte)PciCapabilityId.MsiX;

    /// <inheritdoc />
    public override int Length => 12;

    /// <summary>MSI-X Enable is set.</summary>
    public bool Enabled => (Get16(Control) & EnableBit) != 0;

    /// <summary>Function Mask is set.</summary>
    public bool FunctionMasked => (Get16(Control) & FunctionMaskBit) != 0;

    /// <summary>True when <paramref name="vector"/>'s mask bit is set.</summary>
    public bool IsVectorMasked(int vector) => (EntryControl(vector) & 1) != 0;

    /// <summary>True when <paramref name="vector"/>'s pending bit is set.</summary>
    public bool IsPending(int vector) => (_pba[vector >> 6] & (1UL << (vector & 63))) != 0;

    /// <summary>The message address programmed for <paramref name="vector"/>.</summary>
    public ulong EntryAddress(int vector) => BinaryPrimitives.ReadUInt64LittleEndian(_table.AsSpan(vector * EntrySize));

    /// <summary>The message data programmed for <paramref name="vector"/>.</summary>
    public uint EntryData(int vector) => BinaryPrimitives.ReadUInt32LittleEndian(_table.AsSpan(vector * EntrySize + 8));

    private uint EntryControl(int vector) => BinaryPrimitives.ReadUInt32LittleEndian(_table.AsSpan(vector * EntrySize + VectorControl));

    /// <inheritdoc />
    protected override void Initialize()
    {
        Set16(Control, (ushort)(Vectors - 1));
        Set32(TableReg, (uint)TableOffset | (uint)TableBar);
        Set32(PbaReg, (uint)PbaOffset | (uint)PbaBar);
        Writable(Control, 2, EnableBit | FunctionMaskBit);
    }

    /// <inheritdoc />
    protected internal override void OnRealized()
    {
        Device.PlaceRegion(TableBar, TableOffset, new RegisterRegion("msix-table", TableSize, ReadTable, WriteTable, AccessSizes.DwordOrQword));
        Device.PlaceRegion(PbaBar, PbaOffset, new RegisterRegion("msix-pba", PbaSize, ReadPba, WritePba, AccessSizes.DwordOrQword));
    }

    /// <inheritdoc />
    public override void OnConfigWrite(int offset, int size, uint value)
    {
        if (!Touches(offset, size, Control, 2)) return;
        Device.Interrupts.OnMsiStateChanged();
        DeliverPending();
    }

    /// <inheritdoc />
    protected internal override void OnReset() => ResetTable();

    private void ResetTable()
    {
        Array.Clear(_table);
        Array.Clear(_pba);
        for (int v = 0; v < Vectors; v++) _table[v * EntrySize + VectorControl] = 1; // masked at power-on
    }

    private ulong ReadTable(ulong offset, int size) => size == 8
        ? BinaryPrimitives.ReadUInt64LittleEndian(_table.AsSpan((int)offset))
        : BinaryPrimitives.ReadUInt32LittleEndian(_table.AsSpan((int)offset));

    private void WriteTable(ulong offset, int size, ulong value)
    {
        int at = (int)offset;
        int vector = at / EntrySize;
        bool wasMasked = IsVectorMasked(vector);
        for (int i = 0; i < size; i++)
        {
            int b = at + i;
            int field = b % EntrySize;
            byte v = (byte)(value >> (8 * i));
            if (field >= VectorControl) v = field == VectorControl ? (byte)(v & 1) : (byte)0; // only the mask bit is writable
            _table[b] = v;
        }
        if (wasMasked && !IsVectorMasked(vector)) DeliverPending();
    }

    private ulong ReadPba(ulong offset, int size)
    {
        ulong qword = _pba[offset / 8];
        return size == 8 ? qword : (uint)(qword >> (int)(8 * (offset & 4)));
    }

    private void WritePba(ulong offset, int size, ulong value)
    {
        // The PBA is read-only; writes are ignored (PCI 3.0, 6.8.2.10).
    }

    /// <summary>
    /// Programs <paramref name="vector"/>'s table entry from the host side, as a VFIO-style transport does when its
    /// client routes the vector to an eventfd and emulates the table itself (QEMU's vfio-user client never writes the
    /// device's table). Unmasking delivers a pending vector. Caller holds the device lock.
    /// </summary>
    public void ProgramEntry(int vector, ulong address, uint data, bool masked)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(vector);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(vector, Vectors);
        var entry = _table.AsSpan(vector * EntrySize, EntrySize);
        BinaryPrimitives.WriteUInt64LittleEndian(entry, address);
        BinaryPrimitives.WriteUInt32LittleEndian(entry[8..], data);
        BinaryPrimitives.WriteUInt32LittleEndian(entry[VectorControl..], masked ? 1u : 0u);
        if (!masked) DeliverPending();
    }

    /// <summary>
    /// Signals <paramref name="vector"/>. Returns true if a message was sent; false if MSI-X is disabled, the vector is
    /// out of range, masked (its PBA bit is set) or Bus Master is off. Caller holds the device lock.
    /// </summary>
    internal bool Notify(int vector)
    {
        if (!Enabled || (uint)vector >= (uint)Vectors) return false;
        if (FunctionMasked || IsVectorMasked(vector))
        {
            _pba[vector >> 6] |= 1UL << (vector & 63);
            return false;
        }
        return Send(vector);
    }

    private bool Send(int vector) =>
        Device.Interrupts.SendMessage(new MsiMessage(PciInterruptKind.MsiX, vector, EntryAddress(vector), EntryData(vector)));

    private void DeliverPending()
    {
        if (!Enabled || FunctionMasked) return;
        for (int w = 0; w < _pba.Length; w++)
        {
            ulong bits = _pba[w];
            while (bits != 0)
            {
                int bit = BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                int vector = w * 64 + bit;
                if (IsVectorMasked(vector)) continue;
                _pba[w] &= ~(1UL << bit);
                Send(vector);
            }
        }
    }
}
