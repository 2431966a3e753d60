using PciKit.Testing;
using PciKit.Config;
using PciKit.Device;
using PciKit.Tests.TestDevices;

namespace PciKit.Tests.Device;

/// <summary>How BAR accesses reach register handlers and memory regions, and what happens to invalid ones.</summary>
public class BarDispatchTests
{
    private const ulong Regs = RegisterDevice.RegsOffset, Ram = RegisterDevice.RamOffset;

    private static RegisterDevice Create(PciCommand command = PciCommand.MemorySpace | PciCommand.IoSpace)
    {
        var device = new RegisterDevice();
        device.SetCommand(command);
        return device;
    }

    [Fact]
    public void Register_handlers_get_region_relative_offsets_and_the_access_size()
    {
        var device = Create();

        Assert.Equal(0xA000_0008ul, device.BarRead(0, Regs + 8, 4));
        device.BarWrite(0, Regs + 0x3C, 4, 0x1122_3344);

        Assert.Equal([("read", 8ul, 4, 0ul), ("write", 0x3Cul, 4, 0x1122_3344ul)], device.Calls);
    }

    [Fact]
    public void Writes_pass_only_the_bytes_of_the_access_size_to_the_handler()
    {
        var device = Create();

        device.BarWrite(2, 2, 2, 0xDEAD_BEEF);

        Assert.Equal(("iowrite", 2ul, 2, 0xBEEFul), Assert.Single(device.Calls));
    }

    [Fact]
    public void Reads_are_truncated_to_the_access_size()
    {
        var device = Create();
        Assert.Equal(0x5Aul, device.BarRead(2, 1, 1));
        Assert.Equal(0x5Aul, device.BarRead(2, 4, 4));
    }

    [Theory]
    [InlineData(0, Regs, 2)]            // size the region does not accept
    [InlineData(0, Regs, 8)]
    [InlineData(0, Regs + 2, 4)]        // unaligned
    [InlineData(0, Regs + 0x3E, 4)]     // straddles the region end
    [InlineData(0, 0x0, 4)]             // outside every region
    [InlineData(0, 0x1000, 4)]          // outside the BAR
    [InlineData(0, Regs, 3)]            // not an access size at all
    [InlineData(2, 1, 2)]               // unaligned I/O word
    [InlineData(2, 0, 8)]               // I/O region does not take qwords
    [InlineData(1, 0, 4)]               // no such BAR
    [InlineData(9, 0, 4)]
    public void Invalid_accesses_read_all_ones_drop_writes_and_are_counted(int bar, ulong offset, int size)
    {
        var device = Create();
        ulong allOnes = size >= 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;

        Assert.Equal(allOnes, device.BarRead(bar, offset, size));
        device.BarWrite(bar, offset, size, 0);

        Assert.Empty(device.Calls);
        Assert.Equal(2, device.Counters.InvalidBarAccessCount);
    }

    [Fact]
    public void Memory_regions_are_loads_and_stores_of_any_width()
    {
        var device = Create();

        device.BarWrite(0, Ram, 8, 0x0807_0605_0403_0201);
        device.BarWrite(0, Ram + 9, 1, 0xAB);
        device.BarWrite(0, Ram + 0x7FE, 2, 0xCDEF); // last two bytes

        Assert.Equal(0x0403_0201ul, device.BarRead(0, Ram, 4));
        Assert.Equal(0x0605ul, device.BarRead(0, Ram + 4, 2));
        Assert.Equal(0x0807_0605ul, device.BarRead(0, Ram + 4, 4));
        Assert.Equal(0xABul, device.BarRead(0, Ram + 9, 1));
        Assert.Equal(0xCDEFul, device.BarRead(0, Ram + 0x7FE, 2));
        Assert.Equal(0x0201, device.Ram.Read<ushort>(0)); // the device's own view of its RAM
        Assert.Equal(ulong.MaxValue, device.BarRead(0, Ram + 0x7FC, 8)); // runs past the region
    }

    [Fact]
    public void The_device_sees_its_RAM_written_by_the_bus_and_the_bus_sees_the_device_s_stores()
    {
        var device = Create();

        device.Ram.Write<uint>(0x10, 0xCAFE_F00D);
        device.BarWrite(0, Ram + 0x20, 4, 0x600D_F00D);

        Assert.Equal(0xCAFE_F00Dul, device.BarRead(0, Ram + 0x10, 4));
        Assert.Equal(0x600D_F00Du, device.Ram.Read<uint>(0x20));
    }

    [Fact]
    public void With_memory_space_disabled_memory_BARs_read_all_ones_and_handlers_are_not_called()
    {
        var device = Create(PciCommand.IoSpace);

        Assert.Equal(0xFFFF_FFFFul, device.BarRead(0, Regs, 4));
        device.BarWrite(0, Ram, 4, 0x1234);
        Assert.Equal(0x5Aul, device.BarRead(2, 0, 1)); // I/O still decodes

        Assert.Equal(0u, device.Ram.Read<uint>(0));
        Assert.Equal([("ioread", 0ul, 1, 0ul)], device.Calls);
        Assert.Equal(2, device.Counters.BarAccessWhileDisabledCount);
        Assert.Equal(0, device.Counters.InvalidBarAccessCount);
    }

    [Fact]
    public void With_IO_space_disabled_IO_BARs_read_all_ones()
    {
        var device = Create(PciCommand.MemorySpace);

        Assert.Equal(0xFFul, device.BarRead(2, 0, 1));
        Assert.Empty(device.Calls);
        Assert.Equal(1, device.Counters.BarAccessWhileDisabledCount);
    }

    [Fact]
    public void Invalid_accesses_are_logged_with_what_went_wrong()
    {
        var device = Create();
        var log = new ListLog();
        device.Log = log;

        device.BarRead(0, Regs + 2, 4);

        var line = Assert.Single(log.Lines);
        Assert.Contains("invalid BAR 0 read of 4 bytes at 0x102", line);
        Assert.Contains("'regs'", line);
    }

    [Fact]
    public void A_flood_of_invalid_accesses_is_logged_at_a_limited_rate_and_never_throws()
    {
        var device = Create();
        var log = new ListLog();
        device.Log = log;
        var clock = System.Diagnostics.Stopwatch.StartNew();

        for (int i = 0; i < 10_000; i++)
        {
            device.BarWrite(0, Regs + 1, 4, 0);
            device.BarRead(0, Regs + 1, 4);
        }
        double seconds = clock.Elapsed.TotalSeconds;

        // Burst (10) lines, plus at most what the 5 lines/s refill allows during the flood.
        int allowed = LogRateLimiter.Burst + (int)Math.Ceiling(seconds * LogRateLimiter.PerSecond) + 1;
        Assert.InRange(log.Lines.Count, LogRateLimiter.Burst, allowed);
        Assert.Equal(20_000, device.Counters.InvalidBarAccessCount);
        Assert.Equal(20_000 - log.Lines.Count, device.Counters.SuppressedLogLineCount);
        Assert.Empty(device.Calls);

        // Once the rate allows a line again, it says how many were suppressed.
        int before = log.Lines.Count;
        var guard = System.Diagnostics.Stopwatch.StartNew();
        while (log.Lines.Count == before && guard.Elapsed < TimeSpan.FromSeconds(30))
        {
            Thread.Sleep(20);
            device.BarRead(0, Regs + 1, 4);
        }
        Assert.Matches(@"\((\d+) similar lines suppressed\)$", log.Lines[before]);
    }

    [Fact]
    public void Without_a_log_nothing_is_counted_as_suppressed()
    {
        var device = Create();

        for (int i = 0; i < 100; i++) device.BarRead(0, Regs + 1, 4);

        Assert.Equal(100, device.Counters.InvalidBarAccessCount);
        Assert.Equal(0, device.Counters.SuppressedLogLineCount);
    }

    [Fact]
    public void Counters_can_be_cleared()
    {
        var device = Create(PciCommand.None);
        device.BarRead(0, 0, 4);
        device.BarRead(0, 0, 3);

        device.Counters.Clear();

        Assert.Equal(0, device.Counters.InvalidBarAccessCount);
        Assert.Equal(0, device.Counters.BarAccessWhileDisabledCount);
    }

    [Fact]
    public void Register_regions_reject_invalid_size_sets()
    {
        Assert.Throws<PciDefinitionException>(() => new RegisterRegion("r", 4, (_, _) => 0, (_, _, _) => { }, AccessSizes.None));
        Assert.Throws<PciDefinitionException>(() => new RegisterRegion("r", 4, (_, _) => 0, (_, _, _) => { }, (AccessSizes)16));
        Assert.Throws<PciDefinitionException>(() => new RegisterRegion("r", 0, (_, _) => 0, (_, _, _) => { }));
    }

    [Fact]
    public void Unaligned_accesses_reach_handlers_that_allow_them()
    {
        var calls = new List<ulong>();
        var device = new CustomDevice(d => d.Bar(0, PciBar.Memory32(16)).Add(0, new RegisterRegion("u", 16,
            (o, _) => { calls.Add(o); return 0; }, (_, _, _) => { }, AccessSizes.Dword, allowUnaligned: true)));
        device.SetCommand(PciCommand.MemorySpace);

        Assert.Equal(0ul, device.BarRead(0, 3, 4));
        Assert.Equal([3ul], calls);
    }
}
