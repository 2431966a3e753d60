using PciKit.Devices.Edu;
using PciKit.Linux;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>DMA_MAP (2) and DMA_UNMAP (3) with memfds: windows, device DMA into them, and every refusal.</summary>
public sealed class DmaMapCommandTests
{
    [Fact]
    public void EduDmaMovesBytesExactlyIntoAndOutOfAMappedMemfd()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        using var memfd = SharedMemory.CreateMemFd("pk-dma", 0x4000);
        using var ram = MemoryMapping.Map(memfd, 0, 0x4000);
        var pattern = Edu.Pattern(0x1000, 1);
        ram.CopyFrom(0x100, pattern);
        c.MapDma(0x10000, 0x4000, memfd);

        Edu.DmaFromRam(c, 0x10100, 0, 0x1000);   // guest RAM → edu
        Edu.DmaToRam(c, 0, 0x12800, 0x1000);     // edu → guest RAM elsewhere

        Assert.Equal(pattern, ram.GetSpan(0x2800, 0x1000).ToArray());
        Assert.True(ram.GetSpan(0x1100, 0x1700).ToArray().All(b => b == 0)); // nothing else was touched
        Assert.True(ram.GetSpan(0x3800, 0x800).ToArray().All(b => b == 0));
        Assert.False(Edu.MasterAbort(c));
    }

    [Fact]
    public void TheFileOffsetSelectsWhereTheWindowStartsEvenUnaligned()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        using var scratch = new ScratchWindow(c);
        using var memfd = SharedMemory.CreateMemFd("pk-dma-off", 0x4000);
        using var ram = MemoryMapping.Map(memfd, 0, 0x4000);
        c.MapDma(0x20000, 0x1000, memfd, fileOffset: 0x1000);
        c.MapDma(0x30000, 0x1000, memfd, fileOffset: 0x2800); // not page-aligned

        var a = Edu.Pattern(64, 2);
        scratch.LoadEduBuffer(a);
        Edu.DmaToRam(c, 0, 0x20010, 64);
        Edu.DmaToRam(c, 0, 0x30FC0, 64);
        var expected = new byte[0x4000];
        a.CopyTo(expected, 0x1010);
        a.CopyTo(expected, 0x2800 + 0xFC0);
        Assert.Equal(expected, ram.GetSpan(0, 0x4000).ToArray()); // those bytes, and nothing else
    }

    [Fact]
    public void DeviceDmaAcrossAdjacentFourKiBWindowsIsByteExact()
    {
        // QEMU behind a vIOMMU maps guest pages one by one: adjacent IOVA pages that are not adjacent in the file.
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        using var memfd = SharedMemory.CreateMemFd("pk-dma-pages", 0x3000);
        using var ram = MemoryMapping.Map(memfd, 0, 0x3000);
        var file = Edu.Pattern(0x3000, 3);
        ram.CopyFrom(0, file);
        for (ulong i = 0; i < 3; i++) c.MapDma(0x30000 + (i * 0x1000), 0x1000, memfd, fileOffset: (2 - i) * 0x1000);

        using var scratch = new ScratchWindow(c);

        // Read 4 KiB at IOVA 0x30800: file [0x2800, 0x3000) then [0x1000, 0x1800).
        Edu.DmaFromRam(c, 0x30800, 0, 0x1000);
        var expected = file.AsSpan(0x2800, 0x800).ToArray().Concat(file.AsSpan(0x1000, 0x800).ToArray()).ToArray();
        Assert.Equal(expected, scratch.SaveEduBuffer(0x1000));

        // Write it back at IOVA 0x31800: file [0x1800, 0x2000) then [0x0, 0x800).
        Edu.DmaToRam(c, 0, 0x31800, 0x1000);
        Assert.Equal(expected.AsSpan(0, 0x800).ToArray(), ram.GetSpan(0x1800, 0x800).ToArray());
        Assert.Equal(expected.AsSpan(0x800).ToArray(), ram.GetSpan(0, 0x800).ToArray());
        Assert.Equal(file.AsSpan(0x800, 0x800).ToArray(), ram.GetSpan(0x800, 0x800).ToArray()); // untouched
        Assert.False(Edu.MasterAbort(c));
    }

    [Fact]
    public void DmaOutsideEveryWindowFailsWithoutTouchingMemoryAndEduStaysAlive()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        using var memfd = SharedMemory.CreateMemFd("pk-dma-out", 0x1000);
        using var ram = MemoryMapping.Map(memfd, 0, 0x1000);
        ram.GetSpan(0, 0x1000).Fill(0xEE);
        c.MapDma(0x10000, 0x1000, memfd);
        using var scratch = new ScratchWindow(c);
        scratch.LoadEduBuffer(Enumerable.Repeat((byte)0x11, 0x1000).ToArray());

        Edu.DmaToRam(c, 0, 0x10800, 0x1000); // runs 0x800 bytes past the window
        Assert.True(Edu.MasterAbort(c));
        Assert.True(ram.GetSpan(0, 0x1000).ToArray().All(b => b == 0xEE)); // all or nothing
        Edu.DmaFromRam(c, 0x80000, 0, 0x10);   // wholly unmapped: the buffer keeps its bytes
        Assert.Equal(Enumerable.Repeat((byte)0x11, 0x10).ToArray(), scratch.SaveEduBuffer(0x10));

        c.Write32(0, 0x04, 0x0F);
        Assert.Equal(0xFFFFFFF0u, c.Read32(0, 0x04)); // alive
        Edu.DmaToRam(c, 0, 0x10000, 0x1000);          // the window is unchanged and still works
        Assert.True(ram.GetSpan(0, 0x1000).ToArray().All(b => b == 0x11));
    }

    [Fact]
    public void AReadOnlyWindowRefusesDeviceWrites()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        using var memfd = SharedMemory.CreateMemFd("pk-dma-ro", 0x1000);
        using var ram = MemoryMapping.Map(memfd, 0, 0x1000);
        ram.GetSpan(0, 16).Fill(0x5A);
        c.MapDma(0x10000, 0x1000, memfd, flags: 1); // READ only
        using var scratch = new ScratchWindow(c);
        Edu.DmaFromRam(c, 0x10000, 0, 16);
        Assert.Equal(Enumerable.Repeat((byte)0x5A, 16).ToArray(), scratch.SaveEduBuffer(16));
        scratch.LoadEduBuffer(new byte[16]);
        Edu.DmaToRam(c, 0, 0x10000, 16);
        Assert.True(Edu.MasterAbort(c));
        Assert.True(ram.GetSpan(0, 16).ToArray().All(b => b == 0x5A));
    }

    [Fact]
    public void AnOverlappingMapIsEexistAndAnAdjacentOneIsFine()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        using var memfd = SharedMemory.CreateMemFd("pk-dma-overlap", 0x100000);
        c.MapDma(0x10000, 0x4000, memfd);
        c.CallExpectError(Cmd.DmaMap, RawClient.DmaMapPayload(0x10000, 0x4000), Errno.EEXIST, [memfd]);  // the same range
        c.CallExpectError(Cmd.DmaMap, RawClient.DmaMapPayload(0x13000, 0x2000), Errno.EEXIST, [memfd]);  // its tail
        c.CallExpectError(Cmd.DmaMap, RawClient.DmaMapPayload(0xF000, 0x1001), Errno.EEXIST);            // its head, no fd
        c.CallExpectError(Cmd.DmaMap, RawClient.DmaMapPayload(0x11000, 0x1000), Errno.EEXIST, [memfd]);  // inside
        c.CallExpectError(Cmd.DmaMap, RawClient.DmaMapPayload(0x0, 0x100000), Errno.EEXIST, [memfd]);    // around
        c.MapDma(0x14000, 0x1000, memfd);
        c.MapDma(0xF000, 0x1000, memfd);
    }

    [Fact]
    public void UnmapMustMatchAMapExactlyOrItIsEnoent()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        using var memfd = SharedMemory.CreateMemFd("pk-dma-unmap", 0x4000);
        c.MapDma(0x10000, 0x4000, memfd);
        c.CallExpectError(Cmd.DmaUnmap, RawClient.DmaUnmapPayload(0x10000, 0x1000), Errno.ENOENT); // part of it
        c.CallExpectError(Cmd.DmaUnmap, RawClient.DmaUnmapPayload(0x11000, 0x3000), Errno.ENOENT);
        c.CallExpectError(Cmd.DmaUnmap, RawClient.DmaUnmapPayload(0x50000, 0x4000), Errno.ENOENT); // never mapped

        using (var reply = c.CallOk(Cmd.DmaUnmap, RawClient.DmaUnmapPayload(0x10000, 0x4000)))
            Assert.Equal(RawClient.DmaUnmapPayload(0x10000, 0x4000), reply.Payload); // the request, echoed
        c.CallExpectError(Cmd.DmaUnmap, RawClient.DmaUnmapPayload(0x10000, 0x4000), Errno.ENOENT);   // already gone
        Edu.DmaFromRam(c, 0x10000, 0, 4);
        Assert.True(Edu.MasterAbort(c));
        c.MapDma(0x10000, 0x4000, memfd); // the range is free again
    }

    [Fact]
    public void UnmapOfARangeRemovesEveryWindowInsideIt()
    {
        // QEMU behind an emulated IOMMU maps page by page and may unmap the whole range at once.
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        for (ulong i = 0; i < 4; i++) c.MapDma(0x40000 + i * 0x1000, 0x1000);
        c.MapDma(0x48000, 0x1000);
        c.CallExpectError(Cmd.DmaUnmap, RawClient.DmaUnmapPayload(0x40800, 0x2000), Errno.ENOENT); // straddles two windows
        using (var reply = c.CallOk(Cmd.DmaUnmap, RawClient.DmaUnmapPayload(0x40000, 0x4000)))
            Assert.Equal(RawClient.DmaUnmapPayload(0x40000, 0x4000), reply.Payload);
        c.MapDma(0x41000, 0x1000); // the range is free again
        c.CallExpectError(Cmd.DmaMap, RawClient.DmaMapPayload(0x48000, 0x1000), Errno.EEXIST); // the window outside stayed
    }

    [Fact]
    public void UnmapAllRemovesEveryWindow()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        using var memfd = SharedMemory.CreateMemFd("pk-dma-all", 0x4000);
        c.MapDma(0x10000, 0x1000, memfd);
        c.MapDma(0x20000, 0x1000, memfd, fileOffset: 0x1000);
        c.MapDma(0x30000, 0x1000); // a message window

        using (var reply = c.CallOk(Cmd.DmaUnmap, RawClient.DmaUnmapPayload(0, 0, flags: 2)))
            Assert.Equal(RawClient.DmaUnmapPayload(0, 0, flags: 2), reply.Payload);
        Edu.DmaFromRam(c, 0x20000, 0, 4);
        Assert.True(Edu.MasterAbort(c));
        c.CallExpectError(Cmd.DmaUnmap, RawClient.DmaUnmapPayload(0x10000, 0x1000), Errno.ENOENT);
        c.MapDma(0x10000, 0x1000, memfd);
        c.MapDma(0x20000, 0x1000, memfd);
        c.MapDma(0x30000, 0x1000);
        c.CallExpectError(Cmd.DmaUnmap, RawClient.DmaUnmapPayload(0x10000, 0x1000, flags: 2), Errno.EINVAL); // unmap-all with a range
    }

    [Fact]
    public void MaxDmaMapsIsEnforcedWithEnospc()
    {
        using var h = new ServerHarness(new EduDevice(), new() { MaxDmaMaps = 2 });
        using var c = h.ConnectNegotiated();
        using var memfd = SharedMemory.CreateMemFd("pk-dma-max", 0x3000);
        c.MapDma(0x10000, 0x1000, memfd);
        c.MapDma(0x20000, 0x1000);
        c.CallExpectError(Cmd.DmaMap, RawClient.DmaMapPayload(0x30000, 0x1000, 0x2000), Errno.ENOSPC, [memfd]);
        c.CallExpectError(Cmd.DmaMap, RawClient.DmaMapPayload(0x30000, 0x1000), Errno.ENOSPC);
        using (c.CallOk(Cmd.DmaUnmap, RawClient.DmaUnmapPayload(0x20000, 0x1000))) { }
        c.MapDma(0x30000, 0x1000, memfd, fileOffset: 0x2000);
    }

    [Fact]
    public void MalformedMapsAreRefused()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        using var memfd = SharedMemory.CreateMemFd("pk-dma-bad", 0x2000);
        using var other = SharedMemory.CreateMemFd("pk-dma-bad2", 0x2000);
        c.CallExpectError(Cmd.DmaMap, RawClient.DmaMapPayload(0x10000, 0), Errno.EINVAL, [memfd]);                     // size 0
        c.CallExpectError(Cmd.DmaMap, RawClient.DmaMapPayload(0x10000, 0x1000, flags: 4), Errno.EINVAL, [memfd]);      // unknown flag
        c.CallExpectError(Cmd.DmaMap, RawClient.DmaMapPayload(0x10000, 0x1000), Errno.EINVAL, [memfd, other]);         // two fds
        c.CallExpectError(Cmd.DmaMap, RawClient.DmaMapPayload(0x10000, 0x3000), Errno.EINVAL, [memfd]);                // past the end of the file
        c.CallExpectError(Cmd.DmaMap, RawClient.DmaMapPayload(ulong.MaxValue - 0xFFF, 0x2000), Errno.EINVAL);         // wraps
        c.CallExpectError(Cmd.DmaMap, RawClient.DmaMapPayload(0x10000, 0x1000).AsSpan(0, 24), Errno.EINVAL, [memfd]); // truncated
        c.CallExpectError(Cmd.DmaUnmap, RawClient.DmaUnmapPayload(0x10000, 0x1000, flags: 1), Errno.ENOTSUP);          // dirty bitmap
        c.MapDma(0x10000, 0x2000, memfd); // nothing above left a window behind
    }
}
