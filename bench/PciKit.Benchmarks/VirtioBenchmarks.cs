using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using PciKit.Config;
using PciKit.Devices.Virtio;
using PciKit.Devices.Virtio.Blk;
using PciKit.Driver;
using PciKit.Host;
using PciKit.Memory;

namespace PciKit.Benchmarks;

/// <summary>
/// One virtio-blk request from the driver's notification write to the used-ring entry, in process (no transport): the
/// device's cost per request (ring walk, indirect table, header, backend I/O, DMA, used ring, notification decision).
/// The data is split into 4 KiB descriptors in an indirect table, as Linux sends it, on every other page (scattered
/// like a guest's pages, so zero copy cannot merge them into one segment); the backend is an image file
/// (page cache) or memory; <see cref="ZeroCopy"/> chooses vectored I/O straight into the pinned buffers or a copy
/// through the device's bounce buffer. <see cref="N"/> requests per invocation.
/// </summary>
[BenchmarkCategory("virtio")]
public class VirtioBenchmarks
{
    public const int N = 20;
    private const ushort QueueSize = 256;

    private PciHostBus _bus = null!;
    private VirtioBlkDevice _blk = null!;
    private PciFunction _f = null!;
    private DmaBuffer _ring = null!, _data = null!;
    private ulong _avail, _used;
    private ushort _idx;
    private string? _image;

    [Params(4096, 254 * 4096)] // 254 pages: the largest request Linux builds from scattered pages (seg_max = 254)
    public int Bytes { get; set; }

    [Params("file", "memory")]
    public string Backend { get; set; } = "file";

    [Params(true, false)]
    public bool ZeroCopy { get; set; }

    [Params("read", "write")]
    public string Op { get; set; } = "read";

    [GlobalSetup]
    public void Setup()
    {
        BlockBackend backend;
        if (Backend == "file")
        {
            _image = Path.Combine("/var/tmp", $"pcikit-bench-{Guid.NewGuid():n}.img");
            File.WriteAllBytes(_image, new byte[64 << 20]); // real blocks, in the page cache
            backend = FileBlockBackend.Open(_image);
        }
        else backend = new MemoryBlockBackend(new NativeMemoryBlock(64 << 20));
        _bus = new PciHostBus();
        _blk = new VirtioBlkDevice(backend, new VirtioBlkOptions { ZeroCopy = ZeroCopy });
        _f = _bus.GetFunction(_bus.Attach(_blk));
        _f.Open();
        _f.SetCommand(PciCommand.MemorySpace | PciCommand.BusMaster);
        const int bar = VirtioPciDevice.StructureBar;
        void W8(int o, byte v) => _f.MemoryWrite8(bar, (ulong)o, v);
        void W16(int o, ushort v) => _f.MemoryWrite16(bar, (ulong)o, v);
        void W32(int o, uint v) => _f.MemoryWrite32(bar, (ulong)o, v);
        W8(0x14, 0); W8(0x14, 1); W8(0x14, 3);
        W32(0x08, 0); W32(0x0C, 1u << 28); W32(0x08, 1); W32(0x0C, 1); // VERSION_1, INDIRECT_DESC
        W8(0x14, 0xB);
        _ring = _f.AllocateDmaBuffer(16 * 1024);
        int pages = Bytes / 4096;
        _data = _f.AllocateDmaBuffer(2 * (ulong)Bytes + 3 * 4096 + (ulong)(pages + 2) * 16);
        ulong desc = _ring.DeviceAddress;
        _avail = desc + 16 * QueueSize;
        _used = desc + 8192;
        W16(0x16, 0); W16(0x18, QueueSize);
        W32(0x20, (uint)desc); W32(0x24, (uint)(desc >> 32));
        W32(0x28, (uint)_avail); W32(0x2C, (uint)(_avail >> 32));
        W32(0x30, (uint)_used); W32(0x34, (uint)(_used >> 32));
        W16(0x1C, 1);
        W8(0x14, 0xF);
        // data area: header at 0, status at 16, pages at 4096 + 8192·i, indirect table after them
        ulong a = _data.DeviceAddress, tableOffset = 4096 + 2 * (ulong)Bytes;
        bool write = Op == "write";
        var table = _data.GetSpan(tableOffset, (pages + 2) * 16);
        Desc(table, a, 16, 1, 1);
        for (int i = 0; i < pages; i++) Desc(table[((i + 1) * 16)..], a + 4096 + (ulong)i * 8192, 4096, (ushort)(write ? 1 : 3), (ushort)(i + 2));
        Desc(table[((pages + 1) * 16)..], a + 16, 1, 2, 0);
        Desc(_ring.GetSpan(0, 16), a + tableOffset, (uint)(pages + 2) * 16, 4, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(_data.GetSpan(0, 4), write ? 1u : 0u);
        Request();
        if (_data.GetSpan(16, 1)[0] != 0 || _blk.CompletedRequests != 1) throw new InvalidOperationException("virtio-blk request was not served");

        static void Desc(Span<byte> d, ulong addr, uint len, ushort flags, ushort next)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(d, addr);
            BinaryPrimitives.WriteUInt32LittleEndian(d[8..], len);
            BinaryPrimitives.WriteUInt16LittleEndian(d[12..], flags);
            BinaryPrimitives.WriteUInt16LittleEndian(d[14..], next);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _f.Dispose();
        _bus.Dispose();
        _blk.Dispose();
        if (_image is not null) File.Delete(_image);
    }

    private ushort Request()
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_ring.GetSpan(_avail - _ring.DeviceAddress + 4 + 2UL * (ulong)(_idx % QueueSize), 2), 0);
        _idx++;
        BinaryPrimitives.WriteUInt16LittleEndian(_ring.GetSpan(_avail - _ring.DeviceAddress + 2, 2), _idx);
        _f.MemoryWrite16(VirtioPciDevice.StructureBar, VirtioPciDevice.NotifyOffset, 0);
        return BinaryPrimitives.ReadUInt16LittleEndian(_ring.GetSpan(_used - _ring.DeviceAddress + 2, 2));
    }

    /// <summary>A request of <see cref="Bytes"/> bytes: notify, serve, used entry.</summary>
    [Benchmark(OperationsPerInvoke = N)]
    public int BlkRequest()
    {
        int sum = 0;
        for (int i = 0; i < N; i++) sum += Request();
        return sum;
    }
}
