using System.Buffers.Binary;

namespace PciKit.QemuProxy.Protocol;

// The wire format of QEMU 7.2's multi-process link (include/hw/remote/mpqemu-link.h, hw/remote/mpqemu-link.c).
// It *is* a host C layout (x86-64, little-endian): `MPQemuMsg` is sent as its first 16 bytes (int cmd, 4 bytes of
// padding, size_t size) followed by `size` bytes of the `data` union, with the fds as SCM_RIGHTS on the header's
// write. Every offset below is pinned by MpqemuLayoutTests; nothing here casts wire bytes to structs.

/// <summary>The commands of the mpqemu link (<c>MPQemuCmd</c>); their numbers are the wire values.</summary>
internal enum MpqemuCommand
{
    /// <summary>QEMU → device: guest RAM sections as memfds (192-byte data, 1–8 fds); no reply.</summary>
    SyncSysmem = 0,
    /// <summary>Device → QEMU: the reply to a request (u64 value).</summary>
    Ret = 1,
    /// <summary>QEMU → device: configuration write (12-byte data); replied with RET.</summary>
    PciConfigWrite = 2,
    /// <summary>QEMU → device: configuration read (12-byte data); replied with RET = value.</summary>
    PciConfigRead = 3,
    /// <summary>QEMU → device: BAR write at an absolute guest-physical address (24-byte data); replied with RET.</summary>
    BarWrite = 4,
    /// <summary>QEMU → device: BAR read at an absolute guest-physical address (24-byte data); replied with RET = value.</summary>
    BarRead = 5,
    /// <summary>QEMU → device: the INTx irqfd and resample eventfd (no data, 2 fds); no reply.</summary>
    SetIrqfd = 6,
    /// <summary>QEMU → device: reset (no data); replied with RET.</summary>
    DeviceReset = 7,
}

/// <summary>Why a message was refused.</summary>
internal enum MpqemuError
{
    /// <summary>Nothing wrong.</summary>
    None = 0,
    /// <summary>The header is shorter than 16 bytes.</summary>
    TruncatedHeader,
    /// <summary>The header announces more than 192 bytes of data (QEMU refuses it too); the stream cannot be trusted.</summary>
    DataTooLarge,
    /// <summary>The command number is not one of 0–7.</summary>
    UnknownCommand,
    /// <summary>A command that only the device sends (RET) arrived from QEMU.</summary>
    UnexpectedCommand,
    /// <summary>The data size is not the one the command has.</summary>
    WrongDataSize,
    /// <summary>The command carries the wrong number of fds (or more than 8 arrived).</summary>
    WrongFdCount,
}

/// <summary>Header layout, limits and validation of mpqemu messages.</summary>
internal static class MpqemuMessage
{
    /// <summary>Bytes of the header: <c>offsetof(MPQemuMsg, data)</c>.</summary>
    public const int HeaderSize = 16;
    /// <summary>Offset of <c>int cmd</c>.</summary>
    public const int CommandOffset = 0;
    /// <summary>Offset of <c>size_t size</c> (after 4 bytes of padding).</summary>
    public const int SizeOffset = 8;
    /// <summary><c>sizeof(MPQemuMsg.data)</c>: the largest data a message may carry (the SYNC_SYSMEM arrays).</summary>
    public const int MaxDataSize = 192;
    /// <summary><c>REMOTE_MAX_FDS</c>.</summary>
    public const int MaxFds = 8;
    /// <summary>Number of commands (<c>MPQEMU_CMD_MAX</c>).</summary>
    public const int CommandCount = 8;

    /// <summary>
    /// Reads a header. Never throws. On <see cref="MpqemuError.UnknownCommand"/> the size is valid (≤ 192), so the data
    /// can be skipped and the stream stays in step; on <see cref="MpqemuError.DataTooLarge"/> it cannot be trusted.
    /// </summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> source, out MpqemuCommand command, out ulong size, out MpqemuError error)
    {
        command = default;
        size = 0;
        if (source.Length < HeaderSize)
        {
            error = MpqemuError.TruncatedHeader;
            return false;
        }
        int cmd = BinaryPrimitives.ReadInt32LittleEndian(source[CommandOffset..]);
        size = BinaryPrimitives.ReadUInt64LittleEndian(source[SizeOffset..]);
        command = (MpqemuCommand)cmd;
        if (size > MaxDataSize)
        {
            error = MpqemuError.DataTooLarge;
            return false;
        }
        if ((uint)cmd >= CommandCount)
        {
            error = MpqemuError.UnknownCommand;
            return false;
        }
        error = MpqemuError.None;
        return true;
    }

    /// <summary>Writes a header (padding zeroed) and returns <see cref="HeaderSize"/>.</summary>
    public static int WriteHeader(Span<byte> destination, MpqemuCommand command, ulong size)
    {
        destination[..HeaderSize].Clear();
        BinaryPrimitives.WriteInt32LittleEndian(destination[CommandOffset..], (int)command);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[SizeOffset..], size);
        return HeaderSize;
    }

    /// <summary>True when QEMU waits for a RET after sending <paramref name="command"/>.</summary>
    public static bool ExpectsReply(MpqemuCommand command) => command is MpqemuCommand.PciConfigRead or MpqemuCommand.PciConfigWrite
        or MpqemuCommand.BarRead or MpqemuCommand.BarWrite or MpqemuCommand.DeviceReset;

    /// <summary>
    /// Checks a received command's data size and fd count (what QEMU's <c>mpqemu_msg_valid</c> checks, and stricter:
    /// every command must have exactly its data size). Never throws.
    /// </summary>
    public static bool TryValidate(MpqemuCommand command, int dataLength, int fdCount, out MpqemuError error)
    {
        (int size, int minFds, int maxFds) = command switch
        {
            MpqemuCommand.SyncSysmem => (SyncSysmemData.Size, 1, MaxFds),
            MpqemuCommand.PciConfigWrite or MpqemuCommand.PciConfigRead => (PciConfigData.Size, 0, 0),
            MpqemuCommand.BarWrite or MpqemuCommand.BarRead => (BarAccessData.Size, 0, 0),
            MpqemuCommand.SetIrqfd => (0, 2, 2),
            MpqemuCommand.DeviceReset => (0, 0, 0),
            MpqemuCommand.Ret => (-1, 0, 0),
            _ => (-2, 0, 0),
        };
        if (size == -1) { error = MpqemuError.UnexpectedCommand; return false; }
        if (size == -2) { error = MpqemuError.UnknownCommand; return false; }
        if (dataLength != size) { error = MpqemuError.WrongDataSize; return false; }
        if (fdCount < minFds || fdCount > maxFds) { error = MpqemuError.WrongFdCount; return false; }
        error = MpqemuError.None;
        return true;
    }

    /// <summary>What a refusal means, for logs.</summary>
    public static string Describe(MpqemuError error) => error switch
    {
        MpqemuError.TruncatedHeader => "the header is shorter than 16 bytes",
        MpqemuError.DataTooLarge => $"the header announces more than {MaxDataSize} bytes of data",
        MpqemuError.UnknownCommand => $"unknown command (not 0–{CommandCount - 1})",
        MpqemuError.UnexpectedCommand => "RET is sent by the device, not by QEMU",
        MpqemuError.WrongDataSize => "the data size is wrong for the command",
        MpqemuError.WrongFdCount => "the number of fds is wrong for the command",
        _ => "no error",
    };
}

/// <summary>RET data: <c>uint64_t u64</c> at 0.</summary>
internal static class RetData
{
    /// <summary>Data bytes.</summary>
    public const int Size = 8;
    /// <summary>Offset of the value.</summary>
    public const int ValueOffset = 0;
    /// <summary>Header + data.</summary>
    public const int MessageSize = MpqemuMessage.HeaderSize + Size;

    /// <summary>Writes a whole RET message (header and value) and returns its length.</summary>
    public static int WriteMessage(Span<byte> destination, ulong value)
    {
        MpqemuMessage.WriteHeader(destination, MpqemuCommand.Ret, Size);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[(MpqemuMessage.HeaderSize + ValueOffset)..], value);
        return MessageSize;
    }

    /// <summary>Reads the value of a RET's data.</summary>
    public static bool TryRead(ReadOnlySpan<byte> data, out ulong value)
    {
        if (data.Length != Size) { value = 0; return false; }
        value = BinaryPrimitives.ReadUInt64LittleEndian(data[ValueOffset..]);
        return true;
    }
}

/// <summary>PCI_CFGWRITE / PCI_CFGREAD data (<c>PciConfDataMsg</c>): u32 addr @0, u32 val @4, i32 len @8.</summary>
internal readonly record struct PciConfigData(uint Address, uint Value, int Length)
{
    /// <summary><c>sizeof(PciConfDataMsg)</c>.</summary>
    public const int Size = 12;
    /// <summary>Offset of <c>addr</c>.</summary>
    public const int AddressOffset = 0;
    /// <summary>Offset of <c>val</c>.</summary>
    public const int ValueOffset = 4;
    /// <summary>Offset of <c>len</c>.</summary>
    public const int LengthOffset = 8;

    /// <summary>Parses exactly <see cref="Size"/> bytes.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, out PciConfigData value)
    {
        if (data.Length != Size) { value = default; return false; }
        value = new PciConfigData(
            BinaryPrimitives.ReadUInt32LittleEndian(data[AddressOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(data[ValueOffset..]),
            BinaryPrimitives.ReadInt32LittleEndian(data[LengthOffset..]));
        return true;
    }

    /// <summary>Writes the data and returns <see cref="Size"/>.</summary>
    public int Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination[AddressOffset..], Address);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[ValueOffset..], Value);
        BinaryPrimitives.WriteInt32LittleEndian(destination[LengthOffset..], Length);
        return Size;
    }
}

/// <summary>
/// BAR_WRITE / BAR_READ data (<c>BarAccessMsg</c>): u64 addr @0 (absolute guest-physical), u64 val @8, u32 size @16,
/// bool memory @20 (1 = MMIO, 0 = I/O port), 3 bytes of padding.
/// </summary>
internal readonly record struct BarAccessData(ulong Address, ulong Value, uint AccessSize, bool Memory)
{
    /// <summary><c>sizeof(BarAccessMsg)</c>.</summary>
    public const int Size = 24;
    /// <summary>Offset of <c>addr</c>.</summary>
    public const int AddressOffset = 0;
    /// <summary>Offset of <c>val</c>.</summary>
    public const int ValueOffset = 8;
    /// <summary>Offset of <c>size</c>.</summary>
    public const int AccessSizeOffset = 16;
    /// <summary>Offset of <c>memory</c>.</summary>
    public const int MemoryOffset = 20;

    /// <summary>Parses exactly <see cref="Size"/> bytes (any non-zero <c>memory</c> byte is true, as in C).</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, out BarAccessData value)
    {
        if (data.Length != Size) { value = default; return false; }
        value = new BarAccessData(
            BinaryPrimitives.ReadUInt64LittleEndian(data[AddressOffset..]),
            BinaryPrimitives.ReadUInt64LittleEndian(data[ValueOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(data[AccessSizeOffset..]),
            data[MemoryOffset] != 0);
        return true;
    }

    /// <summary>Writes the data (padding zeroed) and returns <see cref="Size"/>.</summary>
    public int Write(Span<byte> destination)
    {
        destination[..Size].Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(destination[AddressOffset..], Address);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[ValueOffset..], Value);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[AccessSizeOffset..], AccessSize);
        destination[MemoryOffset] = Memory ? (byte)1 : (byte)0;
        return Size;
    }
}

/// <summary>One guest RAM section of a SYNC_SYSMEM: guest-physical address, length, and offset into its memfd.</summary>
internal readonly record struct SysmemRegion(ulong GuestPhysicalAddress, ulong Length, long FileOffset);

/// <summary>
/// SYNC_SYSMEM data (<c>SyncSysmemMsg</c>): u64 gpas[8] @0, u64 sizes[8] @64, off_t offsets[8] @128. Entry i
/// describes the memfd that arrived i-th; only as many entries as fds arrived are meaningful.
/// </summary>
internal static class SyncSysmemData
{
    /// <summary><c>sizeof(SyncSysmemMsg)</c>.</summary>
    public const int Size = 192;
    /// <summary>Entries per array (<c>REMOTE_MAX_FDS</c>).</summary>
    public const int MaxRegions = 8;
    /// <summary>Offset of <c>gpas[0]</c>.</summary>
    public const int GpasOffset = 0;
    /// <summary>Offset of <c>sizes[0]</c>.</summary>
    public const int SizesOffset = 64;
    /// <summary>Offset of <c>offsets[0]</c>.</summary>
    public const int OffsetsOffset = 128;

    /// <summary>Reads the first <c>destination.Length</c> (≤ 8) entries from exactly <see cref="Size"/> bytes.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, Span<SysmemRegion> destination)
    {
        if (data.Length != Size || destination.Length > MaxRegions) return false;
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = new SysmemRegion(
                BinaryPrimitives.ReadUInt64LittleEndian(data[(GpasOffset + 8 * i)..]),
                BinaryPrimitives.ReadUInt64LittleEndian(data[(SizesOffset + 8 * i)..]),
                BinaryPrimitives.ReadInt64LittleEndian(data[(OffsetsOffset + 8 * i)..]));
        }
        return true;
    }

    /// <summary>Writes up to 8 entries (the rest zeroed) and returns <see cref="Size"/>.</summary>
    public static int Write(Span<byte> destination, ReadOnlySpan<SysmemRegion> regions)
    {
        if (regions.Length > MaxRegions) throw new ArgumentException($"SYNC_SYSMEM carries at most {MaxRegions} regions.", nameof(regions));
        destination[..Size].Clear();
        for (int i = 0; i < regions.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(destination[(GpasOffset + 8 * i)..], regions[i].GuestPhysicalAddress);
            BinaryPrimitives.WriteUInt64LittleEndian(destination[(SizesOffset + 8 * i)..], regions[i].Length);
            BinaryPrimitives.WriteInt64LittleEndian(destination[(OffsetsOffset + 8 * i)..], regions[i].FileOffset);
        }
        return Size;
    }
}
