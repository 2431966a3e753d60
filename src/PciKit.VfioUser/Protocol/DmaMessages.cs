using System.Buffers.Binary;

namespace PciKit.VfioUser.Protocol;

/// <summary>DMA_MAP request: argsz u32, flags u32 (1 read, 2 write), offset u64, addr u64, size u64.</summary>
internal readonly record struct DmaMapRequest(uint ArgSz, uint Flags, ulong Offset, ulong Address, ulong Size)
{
    /// <summary>Payload size.</summary>
    public const int Size32 = 32;
    /// <summary>Mapping is readable.</summary>
    public const uint FlagRead = 1;
    /// <summary>Mapping is writeable.</summary>
    public const uint FlagWrite = 2;

    /// <summary>Readable.</summary>
    public bool Readable => (Flags & FlagRead) != 0;
    /// <summary>Writeable.</summary>
    public bool Writeable => (Flags & FlagWrite) != 0;

    /// <summary>Parses; EINVAL on truncation, argsz &lt; 32, unknown flags, size 0 or address/offset overflow.</summary>
    public static bool TryParse(ReadOnlySpan<byte> payload, out DmaMapRequest value, out VfioUserError error)
    {
        value = default;
        if (payload.Length < Size32)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DMA_MAP shorter than 32 bytes");
        }

        var v = new DmaMapRequest(
            BinaryPrimitives.ReadUInt32LittleEndian(payload),
            BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]),
            BinaryPrimitives.ReadUInt64LittleEndian(payload[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(payload[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(payload[24..]));
        if (v.ArgSz < Size32)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DMA_MAP argsz smaller than 32");
        }

        if ((v.Flags & ~(FlagRead | FlagWrite)) != 0)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DMA_MAP unknown flags");
        }

        if (v.Size == 0)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DMA_MAP size 0");
        }

        if (v.Address > ulong.MaxValue - v.Size || v.Offset > ulong.MaxValue - v.Size)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DMA_MAP range overflows");
        }

        value = v;
        return Wire.Ok(out error);
    }

    /// <summary>Writes the 32-byte payload; returns 32.</summary>
    public int Write(Span<byte> destination)
    {
        Wire.EnsureRoom(destination, Size32);
        BinaryPrimitives.WriteUInt32LittleEndian(destination, ArgSz);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], Offset);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], Address);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], Size);
        return Size32;
    }
}

/// <summary>DMA_UNMAP request and reply (the reply echoes the request): argsz u32, flags u32, addr u64, size u64.</summary>
internal readonly record struct DmaUnmapRequest(uint ArgSz, uint Flags, ulong Address, ulong Size)
{
    /// <summary>Payload size.</summary>
    public const int Size24 = 24;
    /// <summary>Get dirty bitmap (not supported here).</summary>
    public const uint FlagGetDirtyBitmap = 1;
    /// <summary>Unmap every mapping; address and size must be 0.</summary>
    public const uint FlagUnmapAll = 2;

    /// <summary>Unmap-all requested.</summary>
    public bool UnmapAll => (Flags & FlagUnmapAll) != 0;

    /// <summary>
    /// Parses; EINVAL on truncation, argsz &lt; 24, unknown flags, unmap-all with a nonzero range, size 0 or
    /// overflow; ENOTSUP for the dirty-bitmap flag.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> payload, out DmaUnmapRequest value, out VfioUserError error)
    {
        value = default;
        if (payload.Length < Size24)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DMA_UNMAP shorter than 24 bytes");
        }

        var v = new DmaUnmapRequest(
            BinaryPrimitives.ReadUInt32LittleEndian(payload),
            BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]),
            BinaryPrimitives.ReadUInt64LittleEndian(payload[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(payload[16..]));
        if (v.ArgSz < Size24)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DMA_UNMAP argsz smaller than 24");
        }

        if ((v.Flags & ~(FlagGetDirtyBitmap | FlagUnmapAll)) != 0)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DMA_UNMAP unknown flags");
        }

        if ((v.Flags & FlagGetDirtyBitmap) != 0)
        {
            return Wire.Fail(out error, LinuxErrno.ENOTSUP, "DMA_UNMAP dirty bitmap not supported");
        }

        if (v.UnmapAll)
        {
            if (v.Address != 0 || v.Size != 0)
            {
                return Wire.Fail(out error, LinuxErrno.EINVAL, "DMA_UNMAP unmap-all with a range");
            }
        }
        else if (v.Size == 0 || v.Address > ulong.MaxValue - v.Size)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DMA_UNMAP range empty or overflowing");
        }

        value = v;
        return Wire.Ok(out error);
    }

    /// <summary>Writes the 24-byte payload (request, or the echo in the reply); returns 24.</summary>
    public int Write(Span<byte> destination)
    {
        Wire.EnsureRoom(destination, Size24);
        BinaryPrimitives.WriteUInt32LittleEndian(destination, ArgSz);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], Address);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], Size);
        return Size24;
    }
}

/// <summary>DMA_READ (server→client): request addr u64, count u64; reply addr u64, count u64, data.</summary>
internal static class DmaReadMessage
{
    /// <summary>Fixed part of request and reply.</summary>
    public const int FixedSize = 16;

    /// <summary>Writes the 16-byte request; returns 16.</summary>
    public static int WriteRequest(Span<byte> destination, ulong address, ulong count)
    {
        Wire.EnsureRoom(destination, FixedSize);
        BinaryPrimitives.WriteUInt64LittleEndian(destination, address);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], count);
        return FixedSize;
    }

    /// <summary>
    /// Parses the reply; <paramref name="data"/> is a slice of <paramref name="payload"/>. EINVAL on truncation or when
    /// count disagrees with the data length; EFAULT when address or count differ from the request's.
    /// </summary>
    public static bool TryParseReply(ReadOnlySpan<byte> payload, ulong expectedAddress, ulong expectedCount,
        out ReadOnlySpan<byte> data, out VfioUserError error)
    {
        data = default;
        if (payload.Length < FixedSize)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DMA_READ reply shorter than 16 bytes");
        }

        ulong address = BinaryPrimitives.ReadUInt64LittleEndian(payload);
        ulong count = BinaryPrimitives.ReadUInt64LittleEndian(payload[8..]);
        if (count != (ulong)(payload.Length - FixedSize))
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DMA_READ reply count disagrees with its data");
        }

        if (address != expectedAddress || count != expectedCount)
        {
            return Wire.Fail(out error, LinuxErrno.EFAULT, "DMA_READ reply does not match the request");
        }

        data = payload[FixedSize..];
        return Wire.Ok(out error);
    }
}

/// <summary>DMA_WRITE (server→client): request addr u64, count u64, data; reply addr u64, count (u64, or u32 per the spec's table).</summary>
internal static class DmaWriteMessage
{
    /// <summary>Fixed part of the request.</summary>
    public const int FixedSize = 16;
    /// <summary>Smallest reply accepted (u64 addr + u32 count).</summary>
    public const int MinReplySize = 12;

    /// <summary>Writes the request header and data; returns 16 + data length.</summary>
    public static int WriteRequest(Span<byte> destination, ulong address, ReadOnlySpan<byte> data)
    {
        Wire.EnsureRoom(destination, FixedSize + data.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(destination, address);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], (ulong)data.Length);
        data.CopyTo(destination[FixedSize..]);
        return FixedSize + data.Length;
    }

    /// <summary>Writes only the 16-byte fixed part (addr, count) of a request whose data is sent separately; returns 16.</summary>
    public static int WriteRequestFixed(Span<byte> destination, ulong address, ulong count)
    {
        Wire.EnsureRoom(destination, FixedSize);
        BinaryPrimitives.WriteUInt64LittleEndian(destination, address);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], count);
        return FixedSize;
    }

    /// <summary>Parses the reply (≥ 12 bytes: u64 addr then a u32 or u64 count).</summary>
    public static bool TryParseReply(ReadOnlySpan<byte> payload, out ulong address, out ulong count, out VfioUserError error)
    {
        address = 0;
        count = 0;
        if (payload.Length < MinReplySize)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DMA_WRITE reply shorter than 12 bytes");
        }

        address = BinaryPrimitives.ReadUInt64LittleEndian(payload);
        count = payload.Length >= 16
            ? BinaryPrimitives.ReadUInt64LittleEndian(payload[8..])
            : BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]);
        return Wire.Ok(out error);
    }
}
