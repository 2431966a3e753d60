using PciKit.Testing;
using PciKit.Devices.Edu;
using PciKit.Linux;

namespace PciKit.QemuProxy.Tests;

/// <summary>SYNC_SYSMEM: guest RAM as memfd sections; edu's DMA engine reaches it by guest-physical address.</summary>
[Collection(FdCountingCollection.Name)]
public sealed class SyncSysmemCommandTests
{
    private const uint Bar0 = 0xfe00_0000;
    private const ulong Mib = 1 << 20;

    [Fact]
    public void EduDmaMovesBytesBetweenGuestRamSectionsExactly()
    {
        using var qemu = FakeQemu.WithEdu();
        using var ramA = SharedMemory.CreateMemFd("pk-ram-a", Mib);
        using var ramB = SharedMemory.CreateMemFd("pk-ram-b", 2 * Mib);
        using var viewA = MemoryMapping.Map(ramA, 0, Mib);
        using var viewB = MemoryMapping.Map(ramB, 0, 2 * Mib);
        var fdsBefore = FdSnapshot.Settle();

        // gpa [0, 1 MiB) is ram-a from offset 0; gpa [1 MiB, 2 MiB) is ram-b from offset 1 MiB.
        qemu.SyncSysmem([(0, Mib, 0), (Mib, Mib, (long)Mib)], [ramA, ramB]);
        qemu.ProgramBar0(Bar0);
        FdSnapshot.AssertReturnsTo(fdsBefore); // received fds closed once mapped
        Assert.Equal(1, FdCountingCollection.MappingCount("pk-ram-a") - 1);
        Assert.Equal(1, FdCountingCollection.MappingCount("pk-ram-b") - 1);

        var pattern = new byte[EduDevice.DmaBufferSize];
        new Random(72).NextBytes(pattern);
        viewA.GetSpan(0x1000, pattern.Length).Clear();
        pattern.CopyTo(viewA.GetSpan(0x1000, pattern.Length));

        Dma(qemu, source: 0x1000, destination: EduDevice.DmaBufferStart, count: 4096, EduDevice.DmaStart); // RAM → edu
        Dma(qemu, source: EduDevice.DmaBufferStart, destination: Mib - 2048, count: 4096, EduDevice.DmaStart | EduDevice.DmaToRam); // edu → RAM, across both sections

        Assert.Equal(pattern.AsSpan(0, 2048), viewA.GetSpan(Mib - 2048, 2048));
        Assert.Equal(pattern.AsSpan(2048), viewB.GetSpan(Mib, 2048)); // section offset applied
        Assert.Equal(0, qemu.Device.Counters.DmaFaultCount);
        Assert.Equal(1, qemu.Proxy.Counters.MemorySyncCount);
    }

    [Fact]
    public void ASecondSyncReplacesTheFirstAndClosesIt()
    {
        using var qemu = FakeQemu.WithEdu();
        using var ramA = SharedMemory.CreateMemFd("pk-old-a", Mib);
        using var ramB = SharedMemory.CreateMemFd("pk-old-b", Mib);
        using var ramC = SharedMemory.CreateMemFd("pk-new-c", 4 * Mib);
        using var viewC = MemoryMapping.Map(ramC, 0, 4 * Mib);
        var fdsBefore = FdSnapshot.Settle();

        qemu.SyncSysmem([(0, Mib, 0), (Mib, Mib, 0)], [ramA, ramB]);
        qemu.ProgramBar0(Bar0);
        Assert.Equal(1, FdCountingCollection.MappingCount("pk-old-a"));
        Assert.Equal(1, FdCountingCollection.MappingCount("pk-old-b"));

        // The new map: gpa [0, 2 MiB) from ram-c at offset 0x3000 (page aligned) — and a section at an unaligned offset.
        qemu.SyncSysmem([(0, 2 * Mib, 0x3000), (3 * Mib, 0x1000, 0x20_0123)], [ramC, ramC]);
        Assert.Equal(0x010000EDul, qemu.BarRead(Bar0, 4)); // a round trip: the sync was handled before it
        FdSnapshot.AssertReturnsTo(fdsBefore);
        Assert.Equal(0, FdCountingCollection.MappingCount("pk-old-a"));
        Assert.Equal(0, FdCountingCollection.MappingCount("pk-old-b"));
        Assert.Equal(3, FdCountingCollection.MappingCount("pk-new-c")); // ours + the two sections

        var data = new byte[256];
        new Random(3).NextBytes(data);
        data.CopyTo(viewC.GetSpan(0x3000 + 0x100, 256));
        Dma(qemu, source: 0x100, destination: EduDevice.DmaBufferStart, count: 256, EduDevice.DmaStart);
        Dma(qemu, source: EduDevice.DmaBufferStart, destination: 3 * Mib + 0x10, count: 256, EduDevice.DmaStart | EduDevice.DmaToRam);
        Assert.Equal(data, viewC.GetSpan(0x20_0123 + 0x10, 256).ToArray());
        Assert.Equal(2, qemu.Proxy.Counters.MemorySyncCount);
    }

    [Fact]
    public void SectionsThatCannotBeMappedAreSkippedAndTheRestServe()
    {
        using var qemu = FakeQemu.WithEdu();
        using var ram = SharedMemory.CreateMemFd("pk-small", Mib);
        using var view = MemoryMapping.Map(ram, 0, Mib);
        var fdsBefore = FdSnapshot.Settle();
        qemu.SyncSysmem(
        [
            (0, Mib, 0),                       // fine
            (0x4000_0000, 2 * Mib, 0),         // beyond the end of the file: would SIGBUS
            (0x5000_0000, 0, 0),               // empty
            (0x6000_0000, 0x1000, -4096),      // negative offset
            (ulong.MaxValue - 0xFFF, 0x2000, 0), // wraps
            (0x800, 0x1000, 0),                // overlaps the first
        ], [ram, ram, ram, ram, ram, ram]);
        qemu.ProgramBar0(Bar0);
        FdSnapshot.AssertReturnsTo(fdsBefore);
        Assert.Equal(5, qemu.Proxy.Counters.MalformedCount);
        Assert.Equal(2, FdCountingCollection.MappingCount("pk-small")); // ours + the one good section
        Assert.True(qemu.Log.Contains("beyond the end of its"));

        view.GetSpan(0x2000, 4).Fill(0x5A);
        Dma(qemu, source: 0x2000, destination: EduDevice.DmaBufferStart, count: 4, EduDevice.DmaStart);
        Assert.Equal(0, qemu.Device.Counters.DmaFaultCount);
    }

    [Fact]
    public void TheLinkReleasesGuestRamWhenQemuLeaves()
    {
        var qemu = FakeQemu.WithEdu();
        using var ram = SharedMemory.CreateMemFd("pk-gone", Mib);
        qemu.SyncSysmem([(0, Mib, 0)], [ram]);
        Assert.Equal(0x1234u, qemu.ConfigRead(0, 2));
        Assert.Equal(1, FdCountingCollection.MappingCount("pk-gone"));
        qemu.Socket.Dispose();
        Assert.True(Eventually.Ended(qemu.Proxy));
        Assert.Equal(0, FdCountingCollection.MappingCount("pk-gone"));
        qemu.Dispose();
    }

    /// <summary>Programs edu's DMA registers by BAR writes, starts the transfer and waits for it to finish.</summary>
    internal static void Dma(FakeQemu qemu, ulong source, ulong destination, ulong count, ulong command)
    {
        qemu.BarWrite(Bar0 + 0x80, source, 8);
        qemu.BarWrite(Bar0 + 0x88, destination, 8);
        qemu.BarWrite(Bar0 + 0x90, count, 8);
        qemu.BarWrite(Bar0 + 0x98, command, 8);
        Eventually.True(() => (qemu.BarRead(Bar0 + 0x98, 8) & EduDevice.DmaStart) == 0, "the edu DMA to finish");
    }
}
