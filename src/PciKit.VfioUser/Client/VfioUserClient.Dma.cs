using PciKit.Driver;
using PciKit.Linux;
using PciKit.Linux.Memory;
using PciKit.Memory;
using PciKit.VfioUser.Protocol;

namespace PciKit.VfioUser.Client;

public sealed partial class VfioUserClient
{
    /// <summary>Lowest IOVA handed out (as the in-process host does: keeps 0 and the first MiB unused).</summary>
    private const ulong FirstIova = 0x10_0000;

    private readonly IovaAllocator _iova = new(FirstIova);
    /// <summary>The client's DMA buffers as the device sees them; serves DMA_READ/DMA_WRITE. Windows own their memory.</summary>
    private readonly DmaAddressSpace _dma = new();
    private readonly Dictionary<ulong, ulong> _dmaMaps = []; // IOVA → mapped (page-rounded) size
    private long _dmaReadsServed, _dmaWritesServed;

    /// <summary>DMA_READ commands served so far (device reads of client memory over messages).</summary>
    public long DmaReadsServed => Interlocked.Read(ref _dmaReadsServed);

    /// <summary>DMA_WRITE commands served so far.</summary>
    public long DmaWritesServed => Interlocked.Read(ref _dmaWritesServed);

    /// <summary>
    /// Allocates a zeroed buffer at a page-aligned IOVA below 2^<paramref name="addressBits"/> and announces it with
    /// DMA_MAP (read/write, page-rounded size): with its memfd in <see cref="DmaMode.SharedMemory"/>, without an fd in
    /// <see cref="DmaMode.Messages"/>. Disposing the buffer sends DMA_UNMAP and frees it.
    /// </summary>
    public DmaBuffer AllocateDmaBuffer(ulong length, int addressBits)
    {
        if (length == 0) throw new ArgumentOutOfRangeException(nameof(length), "A DMA buffer needs at least one byte.");
        ulong rounded = IovaAllocator.RoundUp(length);
        if (rounded == 0) throw new ArgumentOutOfRangeException(nameof(length), "The buffer is too large.");
        DmaBuffer buffer;
        using (_lock.EnterScope())
        {
            ThrowIfDisconnected(VfioUserCommand.DmaMap);
            if (_dmaMaps.Count >= _serverCaps.MaxDmaMaps)
                throw new PciDriverException($"The vfio-user server at {Description} accepts at most {_serverCaps.MaxDmaMaps} DMA mappings; free a buffer first.");
            ulong iova = _iova.Allocate(rounded, addressBits)
                ?? throw new InsufficientMemoryException($"No 0x{rounded:x}-byte hole below 2^{addressBits} is free in this client's DMA address space; free buffers or widen the device's DMA mask.");
            MemoryBlock? memory = null;
            try
            {
                SafeFd? fd = null;
                if (_options.DmaMode == DmaMode.SharedMemory)
                {
                    var shared = CreateSharedBuffer(rounded, length);
                    memory = shared;
                    fd = shared.Fd;
                }
                else
                {
                    memory = new NativeMemoryBlock(length);
                }
                EnsureIdleDmaService(); // a server may DMA by message into any window, with or without an fd

                var map = new DmaMapRequest(DmaMapRequest.Size32, DmaMapRequest.FlagRead | DmaMapRequest.FlagWrite, 0, iova, rounded);
                int n = map.Write(_request);
                Request(VfioUserCommand.DmaMap, _request.AsSpan(0, n), fd is null ? default : [fd]);
                _dmaMaps.Add(iova, rounded);
                if (!_dma.TryMap(new MemoryDmaWindow(iova, memory, 0, length, DmaAccess.ReadWrite, ownsMemory: true)))
                    throw new InvalidOperationException("The IOVA allocator and the DMA address space disagree; this is a bug in PciKit.");
            }
            catch
            {
                if (!_dmaMaps.ContainsKey(iova)) { memory?.Dispose(); _iova.Free(iova); }
                throw;
            }
            buffer = new DmaBuffer(memory, iova, ReleaseDmaBuffer);
        }
        AfterReply();
        return buffer;
    }

    private static MappedMemoryBlock CreateSharedBuffer(ulong fileSize, ulong length)
    {
        var fd = SharedMemory.CreateMemFd("pcikit-dma", fileSize);
        try
        {
            return MappedMemoryBlock.Map(fd, 0, length, MappingAccess.ReadWrite, keepFd: true);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>DMA_UNMAP, then unmap locally and free. Never throws: a server that is gone or refuses still loses the buffer.</summary>
    private void ReleaseDmaBuffer(DmaBuffer buffer)
    {
        using (_lock.EnterScope())
        {
            if (!_dmaMaps.Remove(buffer.DeviceAddress, out ulong size)) return; // freed by Dispose already
            if (!_disconnected)
            {
                try
                {
                    int n = new DmaUnmapRequest(DmaUnmapRequest.Size24, 0, buffer.DeviceAddress, size).Write(_request);
                    Request(VfioUserCommand.DmaUnmap, _request.AsSpan(0, n));
                }
                catch (Exception e) when (e is VfioUserException or TimeoutException)
                {
                    // The buffer is freed anyway; a server that still maps a memfd keeps its own pages.
                }
            }
            _dma.TryUnmap(buffer.DeviceAddress, buffer.Length);
            _iova.Free(buffer.DeviceAddress);
        }
    }

    private void ReleaseAllDma()
    {
        _dmaMaps.Clear();
        _dma.UnmapAll();
        _iova.Clear();
    }
}
