using System.Buffers.Binary;

namespace PciKit.VfioUser.Protocol;

/// <summary>REGION_READ / REGION_WRITE fixed part: offset u64, region u32, count u32.</summary>
internal readonly record struct RegionAccess(ulong Offset, uint Region, uint Count)
{
    /// <summary>Fixed part size.</summary>
    public const int FixedSize = 16;

    /// <summary>Parses a REGION_READ request (exactly 16 bytes); EINVAL otherwise or when offset + count overflows.</summary>
    public static bool TryParseRead(ReadOnlySpan<byte> payload, out RegionAccess value, out VfioUserError error)
    {
        value = default;
        if (payload.Length != FixedSize)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "REGION_READ payload is not 16 bytes");
        }

        var v = ReadFixed(payload);
        if (v.Offset > ulong.MaxValue - v.Count)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "REGION_READ offset + count overflows");
        }

        value = v;
        return Wire.Ok(out error);
    }

    /// <summary>
    /// Parses a REGION_WRITE request; <paramref name="data"/> is a slice of <paramref name="payload"/>. EINVAL on
    /// truncation, count different from the data length, or offset + count overflow.
    /// </summary>
    public static bool TryParseWrite(ReadOnlySpan<byte> payload, out RegionAccess value, out ReadOnlySpan<byte> data, out VfioUserError error)
    {
        value = default;
        data = default;
        if (payload.Length < FixedSize)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "REGION_WRITE shorter than 16 bytes");
        }

        var v = ReadFixed(payload);
        if ((ulong)(payload.Length - FixedSize) != v.Count)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "REGION_WRITE count disagrees with its data");
        }

        if (v.Offset > ulong.MaxValue - v.Count)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "REGION_WRITE offset + count overflows");
        }

        value = v;
        data = payload[FixedSize..];
        return Wire.Ok(out error);
    }

    private static RegionAccess ReadFixed(ReadOnlySpan<byte> p) => new(
        BinaryPrimitives.ReadUInt64LittleEndian(p),
        BinaryPrimitives.ReadUInt32LittleEndian(p[8..]),
        BinaryPrimitives.ReadUInt32LittleEndian(p[12..]));

    /// <summary>Writes the 16-byte fixed part (REGION_READ request, REGION_WRITE reply); returns 16.</summary>
    public int Write(Span<byte> destination)
    {
        Wire.EnsureRoom(destination, FixedSize);
        BinaryPrimitives.WriteUInt64LittleEndian(destination, Offset);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], Region);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], Count);
        return FixedSize;
    }

    /// <summary>
    /// Writes the fixed part followed by <paramref name="data"/> (REGION_READ reply, REGION_WRITE request), with
    /// count set to the data length. Returns 16 + data length.
    /// </summary>
    public static int WriteWithData(Span<byte> destination, ulong offset, uint region, ReadOnlySpan<byte> data)
    {
        Wire.EnsureRoom(destination, FixedSize + data.Length);
        new RegionAccess(offset, region, (uint)data.Length).Write(destination);
        data.CopyTo(destination[FixedSize..]);
        return FixedSize + data.Length;
    }
}

/// <summary>One REGION_WRITE_MULTI entry: offset u64, region u32, count u32 (≤ 8), data[8].</summary>
internal readonly ref struct RegionWriteMultiEntry
{
    /// <summary>Creates an entry view.</summary>
    public RegionWriteMultiEntry(ulong offset, uint region, ReadOnlySpan<byte> data)
    {
        Offset = offset;
        Region = region;
        Data = data;
    }

    /// <summary>Offset in the region.</summary>
    public ulong Offset { get; }
    /// <summary>Region index.</summary>
    public uint Region { get; }
    /// <summary>The count bytes to write.</summary>
    public ReadOnlySpan<byte> Data { get; }
}

/// <summary>REGION_WRITE_MULTI request: u64 n + n × 24-byte entries; reply u64 n. A view over the payload.</summary>
internal readonly ref struct RegionWriteMultiRequest
{
    /// <summary>Size of the entry count.</summary>
    public const int FixedSize = 8;
    /// <summary>Size of one entry.</summary>
    public const int EntrySize = 24;
    /// <summary>Most data bytes in one entry.</summary>
    public const int MaxEntryData = 8;
    /// <summary>Most entries accepted in one message (libvfio-user's limit).</summary>
    public const int MaxEntries = 200;

    private readonly ReadOnlySpan<byte> _entries;

    private RegionWriteMultiRequest(ReadOnlySpan<byte> entries, int count)
    {
        _entries = entries;
        Count = count;
    }

    /// <summary>Number of entries.</summary>
    public int Count { get; }

    /// <summary>Entry <paramref name="i"/> (validated at parse time).</summary>
    public RegionWriteMultiEntry this[int i]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(i);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(i, Count);
            ReadOnlySpan<byte> e = _entries.Slice(i * EntrySize, EntrySize);
            int n = (int)BinaryPrimitives.ReadUInt32LittleEndian(e[12..]);
            return new RegionWriteMultiEntry(
                BinaryPrimitives.ReadUInt64LittleEndian(e),
                BinaryPrimitives.ReadUInt32LittleEndian(e[8..]),
                e.Slice(16, n));
        }
    }

    /// <summary>
    /// Parses; EINVAL on truncation, n of 0 or above <see cref="MaxEntries"/>, a length that is not 8 + n × 24,
    /// an entry count above 8, or an entry offset that overflows.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> payload, out RegionWriteMultiRequest value, out VfioUserError error)
    {
        value = default;
        if (payload.Length < FixedSize)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "REGION_WRITE_MULTI shorter than 8 bytes");
        }

        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(payload);
        if (n == 0 || n > MaxEntries)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "REGION_WRITE_MULTI entry count out of range");
        }

        ReadOnlySpan<byte> entries = payload[FixedSize..];
        if ((ulong)entries.Length != n * EntrySize)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "REGION_WRITE_MULTI length is not 8 + n * 24");
        }

        for (int i = 0; i < (int)n; i++)
        {
            ReadOnlySpan<byte> e = entries.Slice(i * EntrySize, EntrySize);
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(e);
            uint count = BinaryPrimitives.ReadUInt32LittleEndian(e[12..]);
            if (count > MaxEntryData)
            {
                return Wire.Fail(out error, LinuxErrno.EINVAL, "REGION_WRITE_MULTI entry count above 8");
            }

            if (offset > ulong.MaxValue - count)
            {
                return Wire.Fail(out error, LinuxErrno.EINVAL, "REGION_WRITE_MULTI entry offset overflows");
            }
        }

        value = new RegionWriteMultiRequest(entries, (int)n);
        return Wire.Ok(out error);
    }

    /// <summary>Writes the 8-byte reply (the number of entries); returns 8.</summary>
    public static int WriteReply(Span<byte> destination, ulong count)
    {
        Wire.EnsureRoom(destination, FixedSize);
        BinaryPrimitives.WriteUInt64LittleEndian(destination, count);
        return FixedSize;
    }
}
