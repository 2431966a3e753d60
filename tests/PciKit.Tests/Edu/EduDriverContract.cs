using PciKit.Config;
using PciKit.Device;
using PciKit.Driver;
using PciKit.Drivers.Edu;

namespace PciKit.Tests.Edu;

/// <summary>
/// The edu driver suite, written once against the driver API. Each backend (in-process now; vfio-user and VFIO
/// later) derives from it and says how to reach an edu device; the assertions do not change.
/// </summary>
public abstract class EduDriverContract : IDisposable
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>A closed driver handle to a fresh edu device on the backend under test.</summary>
    protected abstract PciFunction CreateFunction();

    /// <summary>Device-side counters, when the backend can see them (in-process), else null.</summary>
    protected abstract DeviceCounters? DeviceCounters { get; }

    public abstract void Dispose();

    private EduDriver Attach() => EduDriver.Attach(CreateFunction());

    [Fact]
    public void Enumerates_as_edu_with_a_1MiB_memory_bar_and_msi()
    {
        using var driver = Attach();
        var f = driver.Function;
        Assert.Equal(0x1234, f.ConfigRead16(PciHeader.VendorId));
        Assert.Equal(0x11e8, f.ConfigRead16(PciHeader.DeviceId));
        Assert.Equal(0x10, f.ConfigRead8(PciHeader.RevisionId));
        Assert.Equal(0x00ff00u, f.ConfigRead32(PciHeader.RevisionId) >> 8);
        var bar = f.GetBarInfo(0);
        Assert.Equal(PciBarKind.Memory32, bar.Kind);
        Assert.Equal(1UL << 20, bar.Size);
        Assert.False(bar.Prefetchable);
        for (int i = 1; i <= 6; i++) Assert.False(f.GetBarInfo(i).IsImplemented);
        int msi = f.FindCapability(PciCapabilityId.Msi);
        Assert.NotEqual(0, msi);
        Assert.Equal(0, f.FindCapability(PciCapabilityId.MsiX));
        Assert.Equal(0x80, f.ConfigRead16(msi + 2) & 0x80); // 64-bit capable
    }

    [Fact]
    public void Identification_and_liveness()
    {
        using var driver = Attach();
        Assert.Equal((1, 0), driver.Version);
        foreach (uint v in new[] { 0u, 1u, 0xdeadbeef, 0xffffffff })
            Assert.Equal(~v, driver.CheckLiveness(v));
        Assert.True(driver.IsAlive());
    }

    [Theory]
    [InlineData(0u, 1u)]
    [InlineData(1u, 1u)]
    [InlineData(5u, 120u)]
    [InlineData(12u, 479001600u)]
    [InlineData(13u, 1932053504u)] // 13! wraps in 32 bits, as on the device
    public void Factorial_by_polling(uint n, uint expected)
    {
        using var driver = Attach();
        Assert.Equal(expected, driver.Factorial(n, Timeout).Result);
    }

    [Fact]
    public void Factorial_register_ignores_writes_while_computing_and_status_computing_bit_is_read_only()
    {
        using var driver = Attach();
        var f = driver.Function;
        f.MemoryWrite32(0, 0x20, 0x01); // try to set "computing": read-only
        Assert.Equal(0u, f.MemoryRead32(0, 0x20) & 0x01);
        f.MemoryWrite32(0, 0x20, 0x80);
        Assert.Equal(0x80u, f.MemoryRead32(0, 0x20) & 0x80);
    }

    [Fact]
    public async Task Factorial_completion_interrupt_over_msi()
    {
        using var driver = Attach();
        var vector = driver.EnableInterrupts(PciInterruptKind.Msi);
        Assert.Equal(3628800u, await driver.FactorialWithInterruptAsync(10).WaitAsync(Timeout));
        Assert.Equal(1, vector.TotalCount);
        Assert.Equal(0u, driver.InterruptStatus);
    }

    [Fact]
    public async Task Raise_and_acknowledge_over_intx_tracks_the_status_interrupt_bit()
    {
        using var driver = Attach();
        var f = driver.Function;
        var vector = driver.EnableInterrupts(PciInterruptKind.Intx);
        Assert.Equal(0, f.ConfigRead16(PciHeader.Status) & (int)PciStatus.InterruptStatus);
        driver.RaiseInterrupt(0x5);
        Assert.Equal(0x5u, driver.InterruptStatus);
        Assert.NotEqual(0, f.ConfigRead16(PciHeader.Status) & (int)PciStatus.InterruptStatus);
        Assert.Equal(0x5u, await driver.WaitForInterruptAsync().WaitAsync(Timeout));
        Assert.Equal(0, f.ConfigRead16(PciHeader.Status) & (int)PciStatus.InterruptStatus);
        Assert.Equal(1, vector.TotalCount);
    }

    [Fact]
    public void Partial_acknowledge_keeps_the_line_up_and_interrupt_disable_masks_it_without_changing_status()
    {
        using var driver = Attach();
        var f = driver.Function;
        var vector = driver.EnableInterrupts(PciInterruptKind.Intx);
        driver.RaiseInterrupt(0x3);
        driver.Acknowledge(0x1);
        Assert.Equal(0x2u, driver.InterruptStatus);
        Assert.NotEqual(0, f.ConfigRead16(PciHeader.Status) & (int)PciStatus.InterruptStatus);
        driver.Acknowledge(0x2);
        f.SetCommand(PciCommand.InterruptDisable);
        driver.RaiseInterrupt(0x8);
        Assert.NotEqual(0, f.ConfigRead16(PciHeader.Status) & (int)PciStatus.InterruptStatus); // level still shown
        Assert.Equal(1, vector.TotalCount); // but the line is masked: no new edge
        f.SetCommand(PciCommand.None, PciCommand.InterruptDisable);
        Assert.Equal(2, vector.TotalCount); // unmasking an asserted line delivers it
    }

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    [InlineData(4096)]
    public void Dma_round_trip_is_byte_exact(int length)
    {
        using var driver = Attach();
        var data = new byte[length];
        new Random(length).NextBytes(data);
        Assert.Equal(data, driver.DmaRoundTrip(data, Timeout));
    }

    [Fact]
    public async Task Dma_completion_interrupt()
    {
        using var driver = Attach();
        var f = driver.Function;
        driver.EnableInterrupts(PciInterruptKind.Msi);
        using var buffer = f.AllocateDmaBuffer(64, addressBits: 28);
        buffer.Span.Fill(0xA5);
        driver.Dma(toDevice: true, buffer.DeviceAddress, 0x10, 64, interrupt: true, Timeout);
        Assert.Equal(0x100u, await driver.WaitForInterruptAsync().WaitAsync(Timeout));
        buffer.Span.Clear();
        driver.Dma(toDevice: false, buffer.DeviceAddress, 0x10, 64, interrupt: false, Timeout);
        Assert.All(buffer.Span.ToArray(), b => Assert.Equal(0xA5, b));
    }

    [Fact]
    public async Task Dma_completes_while_the_driver_only_waits_for_the_interrupt()
    {
        using var driver = Attach();
        var f = driver.Function;
        var vector = driver.EnableInterrupts(PciInterruptKind.Msi);
        using var source = f.AllocateDmaBuffer(256, addressBits: 28);
        using var sink = f.AllocateDmaBuffer(256, addressBits: 28);
        for (int i = 0; i < 256; i++) source.Span[i] = (byte)(255 - i);
        f.MemoryWrite64(0, 0x80, source.DeviceAddress);
        f.MemoryWrite64(0, 0x88, 0x40000);
        f.MemoryWrite64(0, 0x90, 256);
        f.MemoryWrite64(0, 0x98, 0x1 | 0x4); // RAM → device, interrupt when done; then only wait
        Assert.True(await vector.WaitAsync().AsTask().WaitAsync(Timeout) >= 1);
        Assert.Equal(0x100u, driver.InterruptStatus);
        driver.Acknowledge(0x100);
        driver.Dma(toDevice: false, sink.DeviceAddress, 0, 256, interrupt: false, Timeout);
        Assert.Equal(source.Span.ToArray(), sink.Span.ToArray());
    }

    [Fact]
    public void Dma_outside_the_device_buffer_is_refused_and_the_device_keeps_working()
    {
        using var driver = Attach();
        var f = driver.Function;
        using var buffer = f.AllocateDmaBuffer(4096, addressBits: 28);
        buffer.Span.Fill(0x11);
        driver.Dma(toDevice: true, buffer.DeviceAddress, 0, 4096, interrupt: false, Timeout);
        // 2 bytes past the end of the 4 KiB buffer: refused, buffer unchanged.
        f.MemoryWrite64(0, 0x80, 0x40000 + 4095);
        f.MemoryWrite64(0, 0x88, buffer.DeviceAddress);
        f.MemoryWrite64(0, 0x90, 2);
        buffer.Span.Fill(0x22);
        f.MemoryWrite64(0, 0x98, 0x3);
        SpinWait.SpinUntil(() => (f.MemoryRead64(0, 0x98) & 1) == 0, Timeout);
        Assert.All(buffer.Span.ToArray(), b => Assert.Equal(0x22, b));
        Assert.True(driver.IsAlive());
        Assert.Equal(new byte[] { 1, 2, 3 }, driver.DmaRoundTrip([1, 2, 3], Timeout));
    }

    [Fact]
    public void Dma_with_bus_master_off_moves_nothing()
    {
        using var driver = Attach();
        var f = driver.Function;
        using var buffer = f.AllocateDmaBuffer(32, addressBits: 28);
        buffer.Span.Fill(0x77);
        f.SetBusMaster(false);
        driver.Dma(toDevice: false, buffer.DeviceAddress, 0, 32, interrupt: false, Timeout);
        Assert.All(buffer.Span.ToArray(), b => Assert.Equal(0x77, b));
        if (DeviceCounters is { } counters) Assert.True(counters.DmaRefusedBusMasterCount >= 1);
    }

    [Fact]
    public void Invalid_access_sizes_read_all_ones_and_writes_are_dropped()
    {
        using var driver = Attach();
        var f = driver.Function;
        Assert.Equal(0xFFFFu, f.MemoryRead16(0, 0x00));            // < 0x80 takes 4-byte accesses only
        Assert.Equal(ulong.MaxValue, f.MemoryRead64(0, 0x00));
        f.MemoryWrite16(0, 0x04, 0x1234);                          // dropped
        Assert.Equal(0u, f.MemoryRead32(0, 0x04));                 // liveness still holds its reset value (a write would store ~0x1234)
        Assert.Equal(0xFFu, f.MemoryRead8(0, 0x80));               // >= 0x80 takes 4 or 8 bytes
        Assert.Equal(0xFFFF_FFFFu, f.MemoryRead32(0, 0x0C));       // an unimplemented register
        if (DeviceCounters is { } counters) Assert.True(counters.InvalidBarAccessCount >= 4);
    }

    [Fact]
    public void Conventional_reset_restores_the_power_on_state()
    {
        using var driver = Attach();
        var f = driver.Function;
        driver.CheckLiveness(5);
        f.ConfigWrite8(PciHeader.InterruptLine, 0x3);
        f.Reset(PciResetKind.Conventional);
        Assert.Equal(0, f.ConfigRead16(PciHeader.Command));
        Assert.Equal(0u, f.ConfigRead32(PciHeader.Bar0)); // BARs lose their addresses, as after a bus reset
        f.ConfigWrite32(PciHeader.Bar0, (uint)0xC000_0000);
        f.SetCommand(PciCommand.MemorySpace);
        Assert.Equal(0u, f.MemoryRead32(0, 0x04)); // the liveness register lost the ~5 it held before the reset
        Assert.Equal(0u, f.ConfigRead8(PciHeader.InterruptLine));
    }

    [Fact]
    public void Close_turns_off_decoding_and_bus_master_and_a_second_open_is_refused_while_open()
    {
        var function = CreateFunction();
        using var driver = EduDriver.Attach(function);
        Assert.Throws<PciDriverException>(() => function.Open());
        driver.Dispose();
        Assert.False(function.IsOpen);
        Assert.Throws<PciDriverException>(() => function.ConfigRead16(0));
        function.Open();
        Assert.Equal(0, function.ConfigRead16(PciHeader.Command) & (int)(PciCommand.MemorySpace | PciCommand.BusMaster));
        function.Dispose();
    }

    [Fact]
    public void A_driver_refuses_a_device_that_is_not_edu()
    {
        using var driver = Attach();
        Assert.Throws<PciDriverException>(() => driver.EnableInterrupts(PciInterruptKind.MsiX));
    }
}
