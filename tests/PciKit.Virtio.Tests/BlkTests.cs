using System.Buffers.Binary;
using System.Text;
using PciKit.Devices.Virtio;
using PciKit.Devices.Virtio.Blk;
using PciKit.Memory;

namespace PciKit.Virtio.Tests;

/// <summary>virtio-blk over memory and over an image file (virtio 1.2, 5.2).</summary>
public sealed class BlkTests : IDisposable
{
    private const ulong Version1 = 1UL << 32, Indirect = 1UL << 28, EventIdx = 1UL << 29;
    private const int SegMax = 2, Ro = 5, BlkSize = 6, Flush = 9, ConfigWce = 11, Discard = 13, WriteZeroes = 14;
    private const uint In = 0, Out = 1, FlushType = 4, GetId = 8, DiscardType = 11, WriteZeroesType = 13;
    private const byte Ok = 0, IoErr = 1, Unsupp = 2;
    private readonly List<string> _files = [];

    public void Dispose()
    {
        foreach (var f in _files) File.Delete(f);
    }

    private string TempImage(long size)
    {
        string path = Path.Combine(Path.GetTempPath(), $"pcikit-blk-{Guid.NewGuid():n}.img");
        using (var fs = File.Create(path)) fs.SetLength(size);
        _files.Add(path);
        return path;
    }

    private static Rig<VirtioBlkDevice> MemoryDisk(long size = 1 << 20, bool readOnly = false, VirtioBlkOptions? options = null) =>
        new(new VirtioBlkDevice(new MemoryBlockBackend(new NativeMemoryBlock((ulong)size), readOnly: readOnly), options));

    private static ulong StandardFeatures(VirtioTestDriver d) => d.DeviceFeatures & (Version1 | Indirect | EventIdx | Bit(SegMax) | Bit(BlkSize) | Bit(Flush) | Bit(ConfigWce) | Bit(Ro) | Bit(Discard) | Bit(WriteZeroes));

    private static ulong Bit(int b) => 1UL << b;

    /// <summary>Header at data 0, payload at 0x1000, status at 0xFF000 of the queue's data area.</summary>
    private static (byte Status, uint Len) Request(TestQueue q, uint type, ulong sector, int outBytes = 0, int inBytes = 0)
    {
        var header = q.Data.GetSpan(0, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(header, type);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(header[8..], sector);
        q.Data.GetSpan(0xFF000, 1)[0] = 0xEE;
        var buffers = new List<(ulong, uint, bool)> { (0, 16, false) };
        if (outBytes > 0) buffers.Add((0x1000, (uint)outBytes, false));
        if (inBytes > 0) buffers.Add((0x1000, (uint)inBytes, true));
        buffers.Add((0xFF000, 1, true));
        var (_, len) = q.Run([.. buffers]);
        return (q.Data.GetSpan(0xFF000, 1)[0], len);
    }

    [Fact]
    public void The_configuration_shows_capacity_block_size_and_segment_limit_and_the_features_linux_negotiates()
    {
        using var rig = MemoryDisk(3 << 20, options: new VirtioBlkOptions { BlockSize = 4096 });
        var d = rig.Driver;
        Assert.Equal(0x1042, rig.Function.ConfigRead16(2));
        ulong offered = d.DeviceFeatures;
        foreach (int bit in new[] { SegMax, BlkSize, Flush, ConfigWce, Discard, WriteZeroes, 28, 29, 32 })
            Assert.True((offered & Bit(bit)) != 0, $"feature {bit} is not offered");
        Assert.Equal(0UL, offered & Bit(Ro));
        Assert.Equal((ulong)(3 << 20) / 512, d.DeviceConfig64(0));
        Assert.Equal(VirtioBlkDevice.QueueSize - 2u, d.DeviceConfig32(0x0C));
        Assert.Equal(4096u, d.DeviceConfig32(0x14));
        Assert.Equal(1, d.DeviceConfig8(0x20)); // writeback
        Assert.True(d.Negotiate(StandardFeatures(d)));
    }

    [Fact]
    public void Written_sectors_read_back_through_chained_and_indirect_descriptors()
    {
        using var rig = MemoryDisk();
        var d = rig.Driver;
        var q = d.Start(StandardFeatures(d))[0];
        var pattern = new byte[8192];
        new Random(7).NextBytes(pattern);
        pattern.CopyTo(q.Data.GetSpan(0x1000, 8192));
        Assert.Equal((Ok, 1u), Request(q, Out, sector: 10, outBytes: 8192));
        q.Data.GetSpan(0x1000, 8192).Clear();
        Assert.Equal((Ok, 8193u), Request(q, In, sector: 10, inBytes: 8192));
        Assert.Equal(pattern, q.Data.GetSpan(0x1000, 8192).ToArray());

        // The same read as an indirect table: header, three data pieces, status.
        ulong a = q.Data.DeviceAddress;
        q.Data.GetSpan(0x20000, 8192).Clear();
        ulong table = q.WriteIndirectTable(0x40000,
            (a, 16, 1, 1), (a + 0x20000, 1000, 3, 2), (a + 0x21000, 5000, 3, 3), (a + 0x24000, 2192, 3, 4), (a + 0xFF000, 1, 2, 0));
        q.SetDescriptor(200, table, 5 * 16, 4, 0);
        q.Publish(200);
        d.Kick(q);
        Assert.True(q.TryTakeUsed(out uint id, out uint len));
        Assert.Equal((200u, 8193u), (id, len));
        byte[] gathered = [.. q.Data.GetSpan(0x20000, 1000), .. q.Data.GetSpan(0x21000, 5000), .. q.Data.GetSpan(0x24000, 2192)];
        Assert.Equal(pattern, gathered);
        Assert.Equal(1, rig.Device.WriteRequests);
        Assert.Equal(2, rig.Device.ReadRequests);
    }

    [Fact]
    public void A_header_split_across_two_descriptors_is_understood()
    {
        using var rig = MemoryDisk();
        var d = rig.Driver;
        var q = d.Start(StandardFeatures(d))[0];
        BinaryPrimitives.WriteUInt32LittleEndian(q.Data.GetSpan(0, 4), GetId);
        var (_, len) = q.Run((0, 5, false), (5, 11, false), (0x1000, 20, true), (0xFF000, 1, true));
        Assert.Equal(21u, len);
        Assert.Equal(Ok, q.Data.GetSpan(0xFF000, 1)[0]);
    }

    [Fact]
    public void Get_id_returns_the_serial()
    {
        using var rig = MemoryDisk(options: new VirtioBlkOptions { Serial = "disk-0042" });
        var d = rig.Driver;
        var q = d.Start(StandardFeatures(d))[0];
        q.Data.GetSpan(0x1000, 20).Fill(0xAA);
        Assert.Equal((Ok, 21u), Request(q, GetId, 0, inBytes: 20));
        var id = q.Data.GetSpan(0x1000, 20).ToArray();
        Assert.Equal("disk-0042", Encoding.ASCII.GetString(id, 0, 9));
        Assert.All(id[9..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void Requests_outside_the_disk_fail_with_IOERR_and_the_device_keeps_serving()
    {
        using var rig = MemoryDisk(1 << 20);
        var d = rig.Driver;
        var q = d.Start(StandardFeatures(d))[0];
        Assert.Equal(IoErr, Request(q, In, sector: 2047, inBytes: 1024).Status);  // the last sector is 2047
        Assert.Equal(IoErr, Request(q, Out, sector: ulong.MaxValue, outBytes: 512).Status);
        Assert.Equal(IoErr, Request(q, In, sector: 0, inBytes: 100).Status);      // not whole sectors
        Assert.Equal(Ok, Request(q, In, sector: 2047, inBytes: 512).Status);
        Assert.Equal(VirtioStatus.None, d.Status & VirtioStatus.DeviceNeedsReset);
    }

    [Fact]
    public void An_unknown_request_type_is_answered_UNSUPP()
    {
        using var rig = MemoryDisk();
        var d = rig.Driver;
        var q = d.Start(StandardFeatures(d))[0];
        Assert.Equal((Unsupp, 1u), Request(q, 99, 0));
    }

    [Fact]
    public void A_read_only_disk_offers_RO_and_refuses_writes()
    {
        using var rig = MemoryDisk(readOnly: true);
        var d = rig.Driver;
        Assert.NotEqual(0UL, d.DeviceFeatures & Bit(Ro));
        var q = d.Start(StandardFeatures(d))[0];
        Assert.Equal(IoErr, Request(q, Out, 0, outBytes: 512).Status);
        Assert.Equal(Ok, Request(q, In, 0, inBytes: 512).Status);
    }

    [Fact]
    public void Write_zeroes_clears_sectors_and_discard_is_accepted()
    {
        using var rig = MemoryDisk();
        var d = rig.Driver;
        var q = d.Start(StandardFeatures(d))[0];
        q.Data.GetSpan(0x1000, 4096).Fill(0x5A);
        Assert.Equal(Ok, Request(q, Out, 0, outBytes: 4096).Status);
        var seg = q.Data.GetSpan(0x1000, 16);
        BinaryPrimitives.WriteUInt64LittleEndian(seg, 2);
        BinaryPrimitives.WriteUInt32LittleEndian(seg[8..], 3);
        BinaryPrimitives.WriteUInt32LittleEndian(seg[12..], 0);
        Assert.Equal(Ok, Request(q, WriteZeroesType, 0, outBytes: 16).Status);
        Assert.Equal(Ok, Request(q, DiscardType, 0, outBytes: 16).Status);
        Assert.Equal(Ok, Request(q, In, 0, inBytes: 4096).Status);
        var back = q.Data.GetSpan(0x1000, 4096).ToArray();
        Assert.All(back[..1024], b => Assert.Equal(0x5A, b));
        Assert.All(back[1024..2560], b => Assert.Equal(0, b));
        Assert.All(back[2560..], b => Assert.Equal(0x5A, b));
    }

    [Fact]
    public void A_request_without_a_status_byte_sets_DEVICE_NEEDS_RESET()
    {
        using var rig = MemoryDisk();
        var d = rig.Driver;
        var q = d.Start(StandardFeatures(d))[0];
        q.Submit((0, 16, false));
        d.Kick(q);
        Assert.True((d.Status & VirtioStatus.DeviceNeedsReset) != 0);
        Assert.Equal(0, q.UsedIdx);
    }

    [Fact]
    public void A_write_acknowledged_after_a_flush_is_in_the_image_file()
    {
        string image = TempImage(2 << 20);
        using var rig = new Rig<VirtioBlkDevice>(new VirtioBlkDevice(FileBlockBackend.Open(image)));
        var d = rig.Driver;
        Assert.Equal((ulong)(2 << 20) / 512, d.DeviceConfig64(0));
        var q = d.Start(StandardFeatures(d))[0];
        var pattern = Enumerable.Range(0, 4096).Select(i => (byte)(i * 31 + 7)).ToArray();
        pattern.CopyTo(q.Data.GetSpan(0x1000, 4096));
        Assert.Equal(Ok, Request(q, Out, sector: 100, outBytes: 4096).Status);
        Assert.Equal((Ok, 1u), Request(q, FlushType, 0));
        Assert.Equal(1, rig.Device.Flushes);
        using var fs = new FileStream(image, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var onDisk = new byte[4096];
        fs.Position = 100 * 512;
        fs.ReadExactly(onDisk);
        Assert.Equal(pattern, onDisk);
    }

    [Fact]
    public void With_the_write_cache_off_every_write_is_flushed()
    {
        string image = TempImage(1 << 20);
        using var rig = new Rig<VirtioBlkDevice>(new VirtioBlkDevice(FileBlockBackend.Open(image)));
        var d = rig.Driver;
        var q = d.Start(StandardFeatures(d))[0];
        d.WriteDeviceConfig8(0x20, 0);
        Assert.Equal(0, d.DeviceConfig8(0x20));
        Assert.False(rig.Device.WriteCacheEnabled);
        Request(q, Out, 0, outBytes: 512);
        Request(q, Out, 1, outBytes: 512);
        Assert.Equal(2, rig.Device.Flushes);
        d.Reset();
        Assert.True(rig.Device.WriteCacheEnabled); // a reset restores writeback
    }

    [Fact]
    public void The_writeback_field_is_read_only_unless_CONFIG_WCE_was_negotiated()
    {
        using var rig = MemoryDisk();
        var d = rig.Driver;
        d.Start(Version1);
        d.WriteDeviceConfig8(0x20, 0);
        Assert.Equal(1, d.DeviceConfig8(0x20));
    }

    [Fact]
    public void Opening_a_missing_image_says_which_file_and_how_to_make_it()
    {
        var e = Assert.Throws<FileNotFoundException>(() => FileBlockBackend.Open("/nonexistent/disk.img"));
        Assert.Contains("/nonexistent/disk.img", e.Message);
        Assert.Contains("truncate", e.Message);
    }

    [Fact]
    public void Data_across_two_adjacent_dma_buffers_is_copied_instead_of_pinned_and_still_arrives()
    {
        using var rig = MemoryDisk();
        var d = rig.Driver;
        var q = d.Start(StandardFeatures(d))[0];
        var a = rig.Function.AllocateDmaBuffer(4096);
        var b = rig.Function.AllocateDmaBuffer(4096);
        Assert.Equal(a.DeviceAddress + 4096, b.DeviceAddress); // adjacent windows: a buffer across them cannot be pinned
        new Random(3).NextBytes(a.Span);
        new Random(4).NextBytes(b.Span);
        byte[] expected = [.. a.Span[2048..], .. b.Span[..2048]];
        ulong data = q.Data.DeviceAddress;
        BinaryPrimitives.WriteUInt32LittleEndian(q.Data.GetSpan(0, 4), Out);
        BinaryPrimitives.WriteUInt64LittleEndian(q.Data.GetSpan(8, 8), 4);
        q.SetDescriptor(0, data, 16, 1, 1);
        q.SetDescriptor(1, a.DeviceAddress + 2048, 4096, 1, 2);
        q.SetDescriptor(2, data + 0xFF000, 1, 2, 0);
        q.Publish(0);
        d.Kick(q);
        Assert.True(q.TryTakeUsed(out _, out _));
        Assert.Equal(Ok, q.Data.GetSpan(0xFF000, 1)[0]);
        a.Span.Clear();
        b.Span.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(q.Data.GetSpan(0, 4), In);
        q.SetDescriptor(3, data, 16, 1, 4);
        q.SetDescriptor(4, a.DeviceAddress + 2048, 4096, 3, 5);
        q.SetDescriptor(5, data + 0xFF000, 1, 2, 0);
        q.Publish(3);
        d.Kick(q);
        Assert.True(q.TryTakeUsed(out _, out uint len));
        Assert.Equal(4097u, len);
        byte[] readBack = [.. a.Span[2048..], .. b.Span[..2048]];
        Assert.Equal(expected, readBack);
        var disk = ((MemoryBlockBackend)rig.Device.Backend).Memory.GetSpan(4 * 512, 4096).ToArray();
        Assert.Equal(expected, disk);
    }

    [Fact]
    public void A_data_buffer_in_unmapped_memory_sets_DEVICE_NEEDS_RESET_and_a_reset_brings_the_disk_back()
    {
        using var rig = MemoryDisk();
        var d = rig.Driver;
        var q = d.Start(StandardFeatures(d))[0];
        BinaryPrimitives.WriteUInt32LittleEndian(q.Data.GetSpan(0, 4), In);
        q.SetDescriptor(0, q.Data.DeviceAddress, 16, 1, 1);
        q.SetDescriptor(1, 0x7f_0000_0000, 4096, 3, 2);
        q.SetDescriptor(2, q.Data.DeviceAddress + 0xFF000, 1, 2, 0);
        q.Publish(0);
        d.Kick(q);
        Assert.True((d.Status & VirtioStatus.DeviceNeedsReset) != 0);
        Assert.Contains("not reachable", rig.Device.LastFault);
        var fresh = d.Start(StandardFeatures(d))[0];
        Assert.Equal(Ok, Request(fresh, In, 0, inBytes: 4096).Status);
    }
}
