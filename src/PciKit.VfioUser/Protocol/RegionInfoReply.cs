using System.Buffers.Binary;

namespace PciKit.VfioUser.Protocol;

/// <summary>
/// Client side of DEVICE_GET_REGION_INFO: parses a reply's fixed part and its capability chain (SPARSE_MMAP).
/// Capability offsets count from the start of the region-info struct (the payload's first byte).
/// </summary>
internal static class RegionInfoReply
{
    /// <summary>Longest capability chain followed.</summary>
    public const int MaxCapabilities = 16;
    /// <summary>Most sparse areas accepted.</summary>
    public const int MaxSparseAreas = 1024;

    /// <summary>
    /// Parses a reply for region <paramref name="index"/>. <paramref name="needsRetry"/> is true when the server set
    /// CAPS but could not fit the chain in the argsz that was offered (argsz then says how much to offer).
    /// <paramref name="sparseAreas"/> is null without a SPARSE_MMAP capability. EINVAL on truncation, a wrong index,
    /// an out-of-bounds or looping chain, or an area count that does not fit.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> payload, uint index, out RegionInfo info, out bool needsRetry,
        out SparseMmapArea[]? sparseAreas, out VfioUserError error)
    {
        needsRetry = false;
        sparseAreas = null;
        if (!RegionInfo.TryParse(payload, out info, out error)) return false;
        if (info.Index != index) return Wire.Fail(out error, LinuxErrno.EINVAL, "region info reply for another region");
        // A reply whose argsz exceeds what came back was truncated to the caller's argsz: ask again with that size.
        // (libvfio-user also drops the CAPS flag from such a reply, so this check comes before the flag's.)
        if (info.ArgSz > (uint)payload.Length)
        {
            needsRetry = true;
            return Wire.Ok(out error);
        }
        if ((info.Flags & VfioRegionInfoFlags.Caps) == 0) return Wire.Ok(out error);
        if (info.CapOffset == 0 || info.ArgSz > (uint)payload.Length)
        {
            needsRetry = info.ArgSz > (uint)payload.Length;
            return needsRetry ? Wire.Ok(out error) : Wire.Fail(out error, LinuxErrno.EINVAL, "CAPS set without a capability");
        }

        uint at = info.CapOffset;
        for (int n = 0; at != 0; n++)
        {
            if (n == MaxCapabilities) return Wire.Fail(out error, LinuxErrno.EINVAL, "region capability chain too long");
            if (at < RegionInfo.FixedSize || at > (uint)payload.Length - RegionInfo.CapHeaderSize)
                return Wire.Fail(out error, LinuxErrno.EINVAL, "region capability outside the reply");
            ReadOnlySpan<byte> cap = payload[(int)at..];
            ushort id = BinaryPrimitives.ReadUInt16LittleEndian(cap);
            uint next = BinaryPrimitives.ReadUInt32LittleEndian(cap[4..]);
            if (next != 0 && next <= at) return Wire.Fail(out error, LinuxErrno.EINVAL, "region capability chain goes backwards");
            if (id == VfioRegionCapability.SparseMmap)
            {
                if (!TryParseSparse(cap[RegionInfo.CapHeaderSize..], out sparseAreas, out error)) return false;
            }
            at = next;
        }
        return Wire.Ok(out error);
    }

    private static bool TryParseSparse(ReadOnlySpan<byte> body, out SparseMmapArea[]? areas, out VfioUserError error)
    {
        areas = null;
        if (body.Length < RegionInfo.SparseMmapFixedSize) return Wire.Fail(out error, LinuxErrno.EINVAL, "SPARSE_MMAP truncated");
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(body);
        if (count > MaxSparseAreas || (ulong)count * RegionInfo.SparseMmapAreaSize > (ulong)(body.Length - RegionInfo.SparseMmapFixedSize))
            return Wire.Fail(out error, LinuxErrno.EINVAL, "SPARSE_MMAP area count does not fit the reply");
        var result = new SparseMmapArea[count];
        for (int i = 0; i < result.Length; i++)
        {
            ReadOnlySpan<byte> a = body[(RegionInfo.SparseMmapFixedSize + (i * RegionInfo.SparseMmapAreaSize))..];
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(a), size = BinaryPrimitives.ReadUInt64LittleEndian(a[8..]);
            if (offset > ulong.MaxValue - size) return Wire.Fail(out error, LinuxErrno.EINVAL, "SPARSE_MMAP area overflows");
            result[i] = new SparseMmapArea(offset, size);
        }
        areas = result;
        return Wire.Ok(out error);
    }
}
