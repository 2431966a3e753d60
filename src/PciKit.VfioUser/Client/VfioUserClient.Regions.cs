using PciKit.Driver;
using PciKit.Linux;
using PciKit.Linux.Memory;
using PciKit.VfioUser.Protocol;

namespace PciKit.VfioUser.Client;

public sealed partial class VfioUserClient
{
    /// <summary>Largest region-info reply the client asks for when the server says it needs more.</summary>
    private const uint MaxRegionInfoArgSz = 64 * 1024;

    private readonly List<MappedMemoryBlock> _barMappings = [];

    /// <summary>What DEVICE_GET_REGION_INFO said about one region; owns the fd an mmap-able region came with.</summary>
    private sealed record RegionDescription(uint Index, VfioRegionInfoFlags Flags, ulong Size, ulong Offset, SparseMmapArea[]? SparseAreas, SafeFd? Fd);

    private RegionDescription QueryRegion(uint index)
    {
        uint argsz = RegionInfo.FixedSize;
        for (int attempt = 0; ; attempt++)
        {
            int n = new RegionInfo(argsz, 0, index, 0, 0, 0).WriteFixed(_request);
            var reply = Request(VfioUserCommand.DeviceGetRegionInfo, _request.AsSpan(0, n));
            if (!RegionInfoReply.TryParse(reply, index, out var info, out bool retry, out var areas, out var error))
                throw Protocol(VfioUserCommand.DeviceGetRegionInfo, $"region {index}: {error.Message}");
            if (retry)
            {
                if (attempt > 0 || info.ArgSz > MaxRegionInfoArgSz)
                    throw Protocol(VfioUserCommand.DeviceGetRegionInfo, $"region {index} asks for an argsz of {info.ArgSz} after {attempt + 1} attempts");
                argsz = info.ArgSz; // the fd of this reply is closed with the next receive
                continue;
            }

            SafeFd? fd = null;
            if ((info.Flags & VfioRegionInfoFlags.Mmap) != 0 && _socket.Fds.Count > 0 && _socket.Fds.Status == FdTransferStatus.Ok)
                fd = _socket.Fds.Take(0);
            return new RegionDescription(index, info.Flags, info.Size, info.Offset, areas, fd);
        }
    }

    /// <summary>
    /// Maps a BAR range through the fd the server sent with the region's info, when the region has the MMAP flag and,
    /// with a SPARSE_MMAP capability, the range lies inside one of its areas. Registers cannot be mapped; neither can
    /// read-only regions (a ROM: read it with MemoryRead).
    /// </summary>
    public PciMemoryMapping? TryMapBar(int index, ulong offset, ulong length, out string? reason)
    {
        var region = (uint)index <= VfioPciRegion.Rom ? _regions[index] : null;
        if (region is null || region.Size == 0) { reason = "the server reports no such region"; return null; }
        if ((region.Flags & VfioRegionInfoFlags.Mmap) == 0 || region.Fd is null) { reason = "the server does not let the region be mapped (no MMAP flag or no fd)"; return null; }
        if ((region.Flags & VfioRegionInfoFlags.Write) == 0) { reason = "the region is read-only"; return null; }
        if (length == 0 || offset > region.Size || length > region.Size - offset) { reason = "the range leaves the region"; return null; }
        if (region.SparseAreas is { } areas && !areas.Any(a => offset >= a.Offset && offset - a.Offset <= a.Size && length <= a.Size - (offset - a.Offset)))
        {
            reason = "the range is not inside one of the region's mmap-able areas (" + string.Join(", ", areas.Select(a => $"[0x{a.Offset:x}, +0x{a.Size:x})")) + ")";
            return null;
        }

        ulong fileOffset = region.Offset + offset;
        ulong page = (ulong)Environment.SystemPageSize;
        ulong aligned = fileOffset & ~(page - 1), delta = fileOffset - aligned;
        using (_lock.EnterScope())
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            // The block keeps a duplicate of the region's fd, so the mapping is shareable (PciMemoryMapping.TryGetFile:
            // a user client hands BAR memory on to another process); the duplicate is closed with the mapping.
            var fd = region.Fd.Duplicate();
            MappedMemoryBlock block;
            try
            {
                block = MappedMemoryBlock.Map(fd, aligned, delta + length, MappingAccess.ReadWrite, keepFd: true);
            }
            catch
            {
                fd.Dispose();
                throw;
            }
            _barMappings.Add(block);
            reason = null;
            return new PciMemoryMapping(index, block, delta, length, () => ReleaseMapping(block));
        }
    }

    private void ReleaseMapping(MappedMemoryBlock block)
    {
        using (_lock.EnterScope()) _barMappings.Remove(block);
        block.Dispose();
    }

    private void ReleaseAllMappings()
    {
        foreach (var block in _barMappings) block.Dispose();
        _barMappings.Clear();
    }
}
