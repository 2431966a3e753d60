using System.Buffers.Binary;

namespace PciKit.VfioUser.Protocol;

/// <summary>The 16-byte layout DEVICE_GET_INFO and DEVICE_GET_IRQ_INFO share: argsz and three more u32 fields.</summary>
internal static class FourWords
{
    /// <summary>Payload size.</summary>
    public const int Size = 16;

    /// <summary>Reads the four fields; EINVAL on truncation or argsz &lt; 16 (constant messages: a refusal allocates nothing).</summary>
    public static bool TryRead(ReadOnlySpan<byte> payload, string tooShort, string argSzTooSmall, out uint argSz, out uint a, out uint b, out uint c, out VfioUserError error)
    {
        argSz = a = b = c = 0;
        if (payload.Length < Size) return Wire.Fail(out error, LinuxErrno.EINVAL, tooShort);
        argSz = BinaryPrimitives.ReadUInt32LittleEndian(payload);
        a = BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]);
        b = BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]);
        c = BinaryPrimitives.ReadUInt32LittleEndian(payload[12..]);
        if (argSz < Size) return Wire.Fail(out error, LinuxErrno.EINVAL, argSzTooSmall);
        return Wire.Ok(out error);
    }

    /// <summary>Writes the four fields; returns 16.</summary>
    public static int Write(Span<byte> destination, uint argSz, uint a, uint b, uint c)
    {
        Wire.EnsureRoom(destination, Size);
        BinaryPrimitives.WriteUInt32LittleEndian(destination, argSz);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], a);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], b);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], c);
        return Size;
    }
}

/// <summary>DEVICE_GET_INFO request/reply: argsz, flags, num_regions, num_irqs (u32 each).</summary>
internal readonly record struct DeviceInfo(uint ArgSz, VfioDeviceInfoFlags Flags, uint NumRegions, uint NumIrqs)
{
    /// <summary>Payload size.</summary>
    public const int Size16 = FourWords.Size;

    /// <summary>Parses a request; EINVAL on truncation or argsz &lt; 16.</summary>
    public static bool TryParse(ReadOnlySpan<byte> payload, out DeviceInfo value, out VfioUserError error)
    {
        bool ok = FourWords.TryRead(payload, "DEVICE_GET_INFO shorter than 16 bytes", "DEVICE_GET_INFO argsz smaller than 16", out uint argSz, out uint flags, out uint regions, out uint irqs, out error);
        value = ok ? new DeviceInfo(argSz, (VfioDeviceInfoFlags)flags, regions, irqs) : default;
        return ok;
    }

    /// <summary>Writes the 16-byte payload; returns 16.</summary>
    public int Write(Span<byte> destination) => FourWords.Write(destination, ArgSz, (uint)Flags, NumRegions, NumIrqs);
}

/// <summary>DEVICE_GET_IRQ_INFO request/reply: argsz, flags, index, count (u32 each).</summary>
internal readonly record struct IrqInfo(uint ArgSz, VfioIrqInfoFlags Flags, uint Index, uint Count)
{
    /// <summary>Payload size.</summary>
    public const int Size16 = FourWords.Size;

    /// <summary>Parses a request; EINVAL on truncation or argsz &lt; 16.</summary>
    public static bool TryParse(ReadOnlySpan<byte> payload, out IrqInfo value, out VfioUserError error)
    {
        bool ok = FourWords.TryRead(payload, "DEVICE_GET_IRQ_INFO shorter than 16 bytes", "DEVICE_GET_IRQ_INFO argsz smaller than 16", out uint argSz, out uint flags, out uint index, out uint count, out error);
        value = ok ? new IrqInfo(argSz, (VfioIrqInfoFlags)flags, index, count) : default;
        return ok;
    }

    /// <summary>Writes the 16-byte payload; returns 16.</summary>
    public int Write(Span<byte> destination) => FourWords.Write(destination, ArgSz, (uint)Flags, Index, Count);
}

/// <summary>One sparse-mmap area: offset and size within the region.</summary>
internal readonly record struct SparseMmapArea(ulong Offset, ulong Size);

/// <summary>
/// DEVICE_GET_REGION_INFO request/reply fixed part: argsz, flags, index, cap_offset (u32), size, offset (u64).
/// A reply may append a capability chain (SPARSE_MMAP).
/// </summary>
internal readonly record struct RegionInfo(uint ArgSz, VfioRegionInfoFlags Flags, uint Index, uint CapOffset, ulong Size, ulong Offset)
{
    /// <summary>Size of the fixed struct.</summary>
    public const int FixedSize = 32;
    /// <summary>Capability header: id u16, version u16, next u32.</summary>
    public const int CapHeaderSize = 8;
    /// <summary>SPARSE_MMAP body before the areas: nr_areas u32, reserved u32.</summary>
    public const int SparseMmapFixedSize = 8;
    /// <summary>One area: offset u64, size u64.</summary>
    public const int SparseMmapAreaSize = 16;

    /// <summary>Parses a request; EINVAL on truncation or argsz &lt; 32.</summary>
    public static bool TryParse(ReadOnlySpan<byte> payload, out RegionInfo value, out VfioUserError error)
    {
        value = default;
        if (payload.Length < FixedSize)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DEVICE_GET_REGION_INFO shorter than 32 bytes");
        }

        var v = ReadFixed(payload);
        if (v.ArgSz < FixedSize)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DEVICE_GET_REGION_INFO argsz smaller than 32");
        }

        value = v;
        return Wire.Ok(out error);
    }

    private static RegionInfo ReadFixed(ReadOnlySpan<byte> p) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(p),
        (VfioRegionInfoFlags)BinaryPrimitives.ReadUInt32LittleEndian(p[4..]),
        BinaryPrimitives.ReadUInt32LittleEndian(p[8..]),
        BinaryPrimitives.ReadUInt32LittleEndian(p[12..]),
        BinaryPrimitives.ReadUInt64LittleEndian(p[16..]),
        BinaryPrimitives.ReadUInt64LittleEndian(p[24..]));

    /// <summary>Reply size needed for a region with <paramref name="sparseAreaCount"/> sparse areas (0: no capability).</summary>
    public static int ReplySize(int sparseAreaCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sparseAreaCount);
        return sparseAreaCount == 0
            ? FixedSize
            : checked(FixedSize + CapHeaderSize + SparseMmapFixedSize + (sparseAreaCount * SparseMmapAreaSize));
    }

    /// <summary>
    /// Writes a reply for region <paramref name="index"/>. With sparse areas, the CAPS flag is set and
    /// <c>argsz</c> is the full size needed; if <paramref name="clientArgSz"/> is smaller, only the 32-byte struct is
    /// written (cap_offset 0), telling the client to ask again with a larger argsz. Returns bytes written.
    /// </summary>
    public static int WriteReply(Span<byte> destination, uint clientArgSz, uint index, VfioRegionInfoFlags flags,
        ulong size, ulong offset, ReadOnlySpan<SparseMmapArea> sparseAreas)
    {
        int needed = ReplySize(sparseAreas.Length);
        bool hasCaps = sparseAreas.Length > 0;
        bool fits = clientArgSz >= (uint)needed;
        int written = fits ? needed : FixedSize;
        Wire.EnsureRoom(destination, written);

        VfioRegionInfoFlags f = hasCaps ? flags | VfioRegionInfoFlags.Caps : flags & ~VfioRegionInfoFlags.Caps;
        new RegionInfo((uint)needed, f, index, hasCaps && fits ? FixedSize : 0u, size, offset).WriteFixed(destination);
        if (hasCaps && fits)
        {
            Span<byte> cap = destination[FixedSize..needed];
            BinaryPrimitives.WriteUInt16LittleEndian(cap, VfioRegionCapability.SparseMmap);
            BinaryPrimitives.WriteUInt16LittleEndian(cap[2..], 1);
            BinaryPrimitives.WriteUInt32LittleEndian(cap[4..], 0);
            BinaryPrimitives.WriteUInt32LittleEndian(cap[8..], (uint)sparseAreas.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(cap[12..], 0);
            for (int i = 0; i < sparseAreas.Length; i++)
            {
                Span<byte> a = cap[(16 + (i * SparseMmapAreaSize))..];
                BinaryPrimitives.WriteUInt64LittleEndian(a, sparseAreas[i].Offset);
                BinaryPrimitives.WriteUInt64LittleEndian(a[8..], sparseAreas[i].Size);
            }
        }

        return written;
    }

    /// <summary>Writes the 32-byte fixed struct (a request, or a reply without capabilities); returns 32.</summary>
    public int WriteFixed(Span<byte> destination)
    {
        Wire.EnsureRoom(destination, FixedSize);
        BinaryPrimitives.WriteUInt32LittleEndian(destination, ArgSz);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], (uint)Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], Index);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], CapOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], Size);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], Offset);
        return FixedSize;
    }
}
