using PciKit.Device;
using PciKit.Linux;
using PciKit.Linux.Memory;
using PciKit.Memory;
using PciKit.QemuProxy.Protocol;

namespace PciKit.QemuProxy;

/// <summary>
/// The guest RAM the device reaches by DMA: the device's <see cref="DmaAddressSpace"/>, rebuilt from each SYNC_SYSMEM.
/// Each section <c>[offset, offset + size)</c> of its memfd is mapped MAP_SHARED (the fd is closed once mapped) and
/// becomes a <see cref="MemoryDmaWindow"/> at its guest-physical address. A new set replaces the old one under the
/// device lock, so a device DMA sees either the old map or the new one, never a gap; the old mappings are unmapped
/// once no access uses them.
/// </summary>
internal sealed class ProxyMemory(PciDevice device, QemuProxyCounters counters, IPciLog log, TimeSpan idleTimeout) : IDisposable
{
    private static readonly ulong PageSize = (ulong)Environment.SystemPageSize;

    /// <summary>The device's DMA space.</summary>
    public DmaAddressSpace Space { get; } = new();

    /// <summary>
    /// Maps the sections of one SYNC_SYSMEM (takes every fd of <paramref name="fds"/>) and replaces the current map. A
    /// section that cannot be mapped (empty, wrapping, beyond its file, overlapping another) is skipped and logged.
    /// </summary>
    public void Sync(ReadOnlySpan<SysmemRegion> regions, ReceivedFds fds)
    {
        var windows = new List<DmaWindow>(regions.Length);
        for (int i = 0; i < regions.Length; i++)
        {
            using var fd = fds.Take(i);
            if (TryMap(regions[i], fd, out var window, out string? why)) windows.Add(window);
            else Malformed($"SYNC_SYSMEM section {i} (gpa 0x{regions[i].GuestPhysicalAddress:x}, size 0x{regions[i].Length:x}, offset 0x{regions[i].FileOffset:x}) skipped: {why}");
        }

        DmaWindow[] old;
        using (device.SyncRoot.EnterScope())
        {
            old = Space.RemoveAll();
            foreach (var w in windows)
            {
                if (Space.TryMap(w)) continue;
                Malformed($"SYNC_SYSMEM section at gpa 0x{w.Address:x} (size 0x{w.Length:x}) overlaps another; skipped");
                w.Release();
            }
        }
        Retire(old);
        Interlocked.Increment(ref counters.MemorySyncs);
    }

    private static bool TryMap(SysmemRegion region, SafeFd fd, out DmaWindow window, out string? why)
    {
        window = null!;
        if (region.Length == 0) { why = "empty"; return false; }
        if (region.GuestPhysicalAddress + region.Length - 1 < region.GuestPhysicalAddress) { why = "wraps around the address space"; return false; }
        if (region.FileOffset < 0) { why = "negative file offset"; return false; }
        ulong offset = (ulong)region.FileOffset;
        ulong fileSize;
        try
        {
            fileSize = fd.GetSize();
        }
        catch (LinuxException e)
        {
            why = $"the fd cannot be inspected: {e.Message}";
            return false;
        }
        // Mapping past the end of the file would turn a DMA into SIGBUS.
        if (offset > fileSize || region.Length > fileSize - offset) { why = $"it lies beyond the end of its {fileSize}-byte file"; return false; }
        ulong aligned = offset & ~(PageSize - 1);
        ulong delta = offset - aligned;
        MappedMemoryBlock block;
        try
        {
            block = MappedMemoryBlock.Map(fd, aligned, region.Length + delta, MappingAccess.ReadWrite, keepFd: false);
        }
        catch (Exception e) when (e is LinuxException or ArgumentException)
        {
            why = $"mmap failed: {e.Message}";
            return false;
        }
        window = new MemoryDmaWindow(region.GuestPhysicalAddress, block, delta, region.Length, DmaAccess.ReadWrite, ownsMemory: true);
        why = null;
        return true;
    }

    private void Retire(DmaWindow[] windows)
    {
        foreach (var w in windows)
        {
            if (!SpinWait.SpinUntil(() => w.IsIdle, idleTimeout))
            {
                // Unmapping under a running copy could crash the process; leaking the mapping cannot.
                log.Write(PciLogLevel.Warning, "qemu-proxy", $"a DMA still used guest RAM at 0x{w.Address:x} after {idleTimeout.TotalSeconds:0.#} s; the old mapping is left in place (leaked)");
                continue;
            }
            w.Release();
        }
    }

    private void Malformed(string message)
    {
        Interlocked.Increment(ref counters.Malformed);
        log.Write(PciLogLevel.Warning, "qemu-proxy", message);
    }

    /// <summary>Unmaps everything (call after the device was disconnected).</summary>
    public void Dispose() => Retire(Space.RemoveAll());
}
