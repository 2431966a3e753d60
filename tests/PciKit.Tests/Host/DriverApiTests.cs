using PciKit.Capabilities;
using PciKit.Config;
using PciKit.Device;
using PciKit.Driver;
using PciKit.Host;
using PciKit.Tests.TestDevices;

namespace PciKit.Tests.Host;

/// <summary>The driver API (<see cref="PciFunction"/>) over the in-process host bus.</summary>
public sealed class DriverApiTests : IDisposable
{
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(30);
    private readonly PciHostBus _bus = new();

    public void Dispose() => _bus.Dispose();

    private PciFunction Open(PciDevice device)
    {
        var function = _bus.GetFunction(_bus.Attach(device));
        function.Open();
        return function;
    }

    // ------------------------------------------------------------------ configuration space

    [Theory]
    [InlineData(1, 0x100)]
    [InlineData(1, -1)]
    [InlineData(2, 0x01)]
    [InlineData(2, 0xFF)]
    [InlineData(4, 0x02)]
    [InlineData(4, 0xFE)]
    [InlineData(4, 0x100)]
    public void Misaligned_or_out_of_range_config_accesses_throw(int size, int offset)
    {
        using var function = Open(new RegisterDevice());

        Action read = size switch { 1 => () => function.ConfigRead8(offset), 2 => () => function.ConfigRead16(offset), _ => () => function.ConfigRead32(offset) };
        Action write = size switch { 1 => () => function.ConfigWrite8(offset, 0), 2 => () => function.ConfigWrite16(offset, 0), _ => () => function.ConfigWrite32(offset, 0) };

        var e = Assert.Throws<ArgumentOutOfRangeException>(read);
        Assert.Contains($"{size}-byte aligned and inside the 256-byte space", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(write);
    }

    [Fact]
    public void Config_accesses_reach_the_device_through_its_masks()
    {
        var device = new InterruptDevice();
        using var function = Open(device);

        Assert.Equal(4096, function.ConfigSpaceSize);
        Assert.Equal(0x1234, function.ConfigRead16(PciHeader.VendorId));
        Assert.Equal(0x1001_1234u, function.ConfigRead32(0));
        function.ConfigWrite32(0xFFC, 0xFFFF_FFFF); // last dword of the extended space: read-only zero
        Assert.Equal(0u, function.ConfigRead32(0xFFC));

        function.SetCommand(PciCommand.MemorySpace | PciCommand.BusMaster);
        function.SetCommand(PciCommand.None, PciCommand.MemorySpace);
        Assert.Equal((int)PciCommand.BusMaster, device.Command());
    }

    // ------------------------------------------------------------------ BARs

    [Fact]
    public void GetBarInfo_reports_kind_size_prefetchability_and_address_of_every_BAR()
    {
        var device = new AllBarsDevice();
        using var function = Open(device);

        PciBarInfo Expected(int i, PciBarKind kind, ulong size, bool prefetchable) => new(i, kind, size, prefetchable, device.GetBarAddress(i));

        Assert.Equal(Expected(0, PciBarKind.Memory32, 0x1000, false), function.GetBarInfo(0));
        Assert.Equal(Expected(1, PciBarKind.Io, 16, false), function.GetBarInfo(1));
        Assert.Equal(Expected(2, PciBarKind.Memory64, 0x1_0000, true), function.GetBarInfo(2));
        Assert.Equal(new PciBarInfo(3, PciBarKind.None, 0, false, 0), function.GetBarInfo(3)); // upper half of BAR2
        Assert.Equal(Expected(4, PciBarKind.Memory32, 0x2000, true), function.GetBarInfo(4));
        Assert.Equal(new PciBarInfo(5, PciBarKind.None, 0, false, 0), function.GetBarInfo(5));
        Assert.Equal(Expected(PciDevice.RomIndex, PciBarKind.Rom, 0x1000, false), function.GetBarInfo(PciDevice.RomIndex));
        Assert.True(function.GetBarInfo(2).Address > uint.MaxValue);
        Assert.False(function.GetBarInfo(5).IsImplemented);
        Assert.Throws<ArgumentOutOfRangeException>(() => function.GetBarInfo(7));
    }

    [Fact]
    public void Register_reads_and_writes_go_to_the_device_handlers()
    {
        var device = new RegisterDevice();
        using var function = Open(device);
        function.SetDecoding(true);

        Assert.Equal(0xA000_0010u, function.MemoryRead32(0, RegisterDevice.RegsOffset + 0x10));
        function.MemoryWrite32(0, RegisterDevice.RegsOffset, 7);
        function.MemoryWrite8(2, 3, 0x42);

        Assert.Equal([("read", 0x10ul, 4, 0ul), ("write", 0ul, 4, 7ul), ("iowrite", 3ul, 1, 0x42ul)], device.Calls);
    }

    [Fact]
    public void BAR_accesses_outside_the_BAR_or_to_a_missing_BAR_throw()
    {
        using var function = Open(new RegisterDevice());

        Assert.Throws<ArgumentOutOfRangeException>(() => function.MemoryRead32(0, 0xFFE));
        Assert.Throws<ArgumentOutOfRangeException>(() => function.MemoryRead64(2, 32));
        var missing = Assert.Throws<ArgumentOutOfRangeException>(() => function.MemoryRead32(1, 0));
        Assert.Contains("not implemented; see GetBarInfo", missing.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => function.MemoryWrite32(7, 0, 0));
    }

    [Fact]
    public void A_mapped_RAM_BAR_is_shared_with_the_device_in_both_directions()
    {
        var device = new AllBarsDevice();
        using var function = Open(device);

        using var mapping = function.MapBar(2);
        mapping.Write<ulong>(0x100, 0x0102_0304_0506_0708);
        device.Ram64.Write<uint>(0x200, 0xFEED_FACE);

        Assert.Equal(0x1_0000ul, mapping.Length);
        Assert.Equal(0x0102_0304_0506_0708ul, device.Ram64.Read<ulong>(0x100));
        Assert.Equal(0xFEED_FACEu, mapping.Read<uint>(0x200));
        function.SetDecoding(true);
        Assert.Equal(0x0506_0708u, function.MemoryRead32(2, 0x100)); // the same bytes through the bus
    }

    [Fact]
    public void A_partial_mapping_is_relative_to_its_offset_and_bounds_checked()
    {
        var device = new AllBarsDevice();
        using var function = Open(device);

        using var mapping = function.MapBar(4, 0x1000, 0x800);
        mapping.Write<byte>(0, 0x5A);

        Assert.Equal(0x5A, device.Ram32.Read<byte>(0x1000));
        Assert.Throws<ArgumentOutOfRangeException>(() => mapping.Read<uint>(0x7FE));
        Assert.Throws<ArgumentOutOfRangeException>(() => function.MapBar(4, 0x1000, 0x2000));
        mapping.Dispose();
        Assert.Throws<ObjectDisposedException>(() => mapping.Read<byte>(0));
    }

    [Fact]
    public void Register_BARs_and_the_ROM_cannot_be_mapped()
    {
        using var function = Open(new AllBarsDevice());

        var registers = Assert.Throws<PciDriverException>(() => function.MapBar(0));
        Assert.Contains("Use MemoryRead/MemoryWrite for registers", registers.Message);
        var rom = Assert.Throws<PciDriverException>(() => function.MapBar(PciDevice.RomIndex));
        Assert.Contains("read-only", rom.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => function.MapBar(5));
    }

    [Fact]
    public void The_ROM_is_read_through_the_bus_once_enabled()
    {
        using var function = Open(new AllBarsDevice());
        function.SetDecoding(true);
        Assert.Equal(0xFFFF_FFFFu, function.MemoryRead32(PciDevice.RomIndex, 0));

        function.ConfigWrite32(PciHeader.RomAddress, function.ConfigRead32(PciHeader.RomAddress) | 1);

        Assert.Equal(0xCB08_AA55u, function.MemoryRead32(PciDevice.RomIndex, 0));
    }

    // ------------------------------------------------------------------ DMA

    [Fact]
    public void DMA_buffers_are_shared_between_the_driver_and_the_device()
    {
        var device = new RegisterDevice();
        using var function = Open(device);
        function.SetBusMaster(true);
        using var buffer = function.AllocateDmaBuffer(100);
        buffer.Span[10] = 0x77;

        var read = new byte[1];
        Assert.Equal(DmaStatus.Ok, device.DmaRead(buffer.DeviceAddress + 10, read));
        Assert.Equal(DmaStatus.Ok, device.DmaWrite(buffer.DeviceAddress + 99, [0x88]));

        Assert.Equal(0x77, read[0]);
        Assert.Equal(0x88, buffer.Span[99]);
        Assert.Equal(100ul, buffer.Length);
        Assert.Equal(DmaStatus.Unmapped, device.DmaWrite(buffer.DeviceAddress + 100, [0])); // one past the end
    }

    [Theory]
    [InlineData(32)]
    [InlineData(21)]
    public void DMA_buffers_lie_below_the_requested_address_width(int bits)
    {
        using var function = Open(new RegisterDevice());

        using var a = function.AllocateDmaBuffer(4096, bits);
        using var b = function.AllocateDmaBuffer(8192, bits);

        Assert.True(a.DeviceAddress + a.Length <= 1UL << bits);
        Assert.True(b.DeviceAddress + b.Length <= 1UL << bits);
        Assert.True(a.DeviceAddress + a.Length <= b.DeviceAddress || b.DeviceAddress + b.Length <= a.DeviceAddress);
    }

    [Fact]
    public void A_DMA_buffer_that_cannot_fit_below_the_address_width_is_refused()
    {
        using var function = Open(new RegisterDevice());

        Assert.Throws<InsufficientMemoryException>(() => function.AllocateDmaBuffer(0x20_0000, 21));
        Assert.Throws<ArgumentOutOfRangeException>(() => function.AllocateDmaBuffer(4096, 11));
        Assert.Throws<ArgumentOutOfRangeException>(() => function.AllocateDmaBuffer(0));
    }

    [Fact]
    public void A_disposed_DMA_buffer_is_unmapped_from_the_device()
    {
        var device = new RegisterDevice();
        using var function = Open(device);
        function.SetBusMaster(true);
        var buffer = function.AllocateDmaBuffer(4096);

        buffer.Dispose();

        Assert.Equal(DmaStatus.Unmapped, device.DmaWrite(buffer.DeviceAddress, [1]));
        Assert.Throws<ObjectDisposedException>(() => buffer.Span[0]);
        using var again = function.AllocateDmaBuffer(4096); // the address space can be reused
        Assert.Equal(buffer.DeviceAddress, again.DeviceAddress);
    }

    // ------------------------------------------------------------------ interrupts

    [Fact]
    public void INTx_rising_edges_signal_the_vector()
    {
        var device = new RegisterDevice();
        using var function = Open(device);
        var intx = function.ConfigureInterrupts(PciInterruptKind.Intx);

        device.SetIntx(true);
        device.SetIntx(true); // still asserted: no new edge
        Assert.Equal(1, intx[0].Take());

        device.SetIntx(false);
        Assert.Equal(0, intx[0].Take());
        device.SetIntx(true);
        Assert.Equal(1, intx[0].Take());
        Assert.Equal(2, intx[0].TotalCount);
    }

    [Fact]
    public void Interrupt_Disable_suppresses_INTx_but_the_status_bit_shows_the_level()
    {
        var device = new RegisterDevice();
        using var function = Open(device);
        var intx = function.ConfigureInterrupts(PciInterruptKind.Intx);
        Assert.Equal(0, device.Command() & (int)PciCommand.InterruptDisable); // ConfigureInterrupts cleared it

        function.SetCommand(PciCommand.InterruptDisable);
        device.SetIntx(true);

        Assert.Equal(0, intx[0].Take());
        Assert.NotEqual(0, function.ConfigRead16(PciHeader.Status) & (int)PciStatus.InterruptStatus);

        function.SetCommand(PciCommand.None, PciCommand.InterruptDisable); // the pending level now reaches the host
        Assert.Equal(1, intx[0].Take());
    }

    [Fact]
    public void INTx_needs_an_interrupt_pin()
    {
        using var function = Open(new AllBarsDevice());
        var e = Assert.Throws<PciDriverException>(() => function.ConfigureInterrupts(PciInterruptKind.Intx));
        Assert.Contains("use MSI or MSI-X", e.Message);
    }

    [Fact]
    public async Task MSI_vectors_arrive_at_the_right_InterruptVector()
    {
        var device = new InterruptDevice();
        using var function = Open(device);
        var msi = function.ConfigureInterrupts(PciInterruptKind.Msi, 4);
        function.SetBusMaster(true);
        var seen = new List<(int, long)>();
        using var subscription = msi[3].Subscribe((v, total) => { lock (seen) seen.Add((v.Index, total)); });

        device.SignalMsi(2);
        device.SignalMsi(2);
        device.SignalMsi(3);

        Assert.Equal(2, await msi[2].WaitAsync().AsTask().WaitAsync(HangGuard));
        Assert.Equal(1, msi[3].Take());
        Assert.Equal(0, msi[0].Take());
        Assert.Equal(0, msi[1].Take());
        Assert.Equal([(3, 1L)], seen);
        Assert.Equal(4, msi.Count);
        Assert.True(device.Msi!.Enabled);
        Assert.Equal(4, device.Msi.EnabledVectors);
        Assert.Equal(0, _bus.SpuriousMessages);
    }

    [Fact]
    public async Task WaitAsync_completes_when_the_vector_fires_later()
    {
        var device = new InterruptDevice();
        using var function = Open(device);
        var msi = function.ConfigureInterrupts(PciInterruptKind.Msi, 1);
        function.SetBusMaster(true);

        var wait = msi[0].WaitAsync().AsTask();
        Assert.False(wait.IsCompleted);
        device.SignalMsi(0);

        Assert.Equal(1, await wait.WaitAsync(HangGuard));
    }

    [Fact]
    public void MSI_needs_Bus_Master()
    {
        var device = new InterruptDevice();
        using var function = Open(device);
        var msi = function.ConfigureInterrupts(PciInterruptKind.Msi, 1);

        Assert.False(device.SignalMsi(0));

        Assert.Equal(0, msi[0].Take());
        Assert.Equal(1, device.Counters.MessagesBlockedByBusMasterCount);
    }

    [Fact]
    public void MSI_vector_counts_are_checked()
    {
        using var function = Open(new InterruptDevice());

        Assert.Throws<ArgumentOutOfRangeException>(() => function.ConfigureInterrupts(PciInterruptKind.Msi, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => function.ConfigureInterrupts(PciInterruptKind.Msi, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => function.ConfigureInterrupts(PciInterruptKind.MsiX, 9));
        Assert.Throws<ArgumentOutOfRangeException>(() => function.ConfigureInterrupts(PciInterruptKind.Msi, 0));
        Assert.Throws<PciDriverException>(() => Open(new RegisterDevice()).ConfigureInterrupts(PciInterruptKind.Msi));
    }

    [Fact]
    public void MSI_X_vectors_arrive_at_the_right_InterruptVector()
    {
        var device = new InterruptDevice();
        using var function = Open(device);
        var msix = function.ConfigureInterrupts(PciInterruptKind.MsiX, InterruptDevice.MsiXVectors);
        function.SetBusMaster(true);
        long total = 0;
        using var subscription = msix[7].Subscribe((_, t) => Interlocked.Exchange(ref total, t));

        for (int v = 0; v < InterruptDevice.MsiXVectors; v++)
            for (int n = 0; n <= v; n++) Assert.True(device.SignalMsiX(v));

        for (int v = 0; v < InterruptDevice.MsiXVectors; v++) Assert.Equal(v + 1, msix[v].Take());
        Assert.Equal(8, Interlocked.Read(ref total));
        Assert.True(device.MsiX!.Enabled);
        Assert.False(device.MsiX.FunctionMasked);
        Assert.Equal(0, _bus.SpuriousMessages);
    }

    [Fact]
    public void A_masked_MSI_X_vector_is_delivered_when_the_driver_unmasks_it()
    {
        var device = new InterruptDevice();
        using var function = Open(device);
        var msix = function.ConfigureInterrupts(PciInterruptKind.MsiX, 2);
        function.SetBusMaster(true);
        ulong control1 = InterruptDevice.TableOffset + 16 + 12;

        function.MemoryWrite32(2, control1, 1);
        device.SignalMsiX(1);
        Assert.Equal(0, msix[1].Take());
        Assert.Equal(0b10u, function.MemoryRead32(2, InterruptDevice.PbaOffset));

        function.MemoryWrite32(2, control1, 0);
        Assert.Equal(1, msix[1].Take());
        Assert.Equal(0u, function.MemoryRead32(2, InterruptDevice.PbaOffset));
    }

    [Fact]
    public void One_interrupt_kind_at_a_time_and_disabling_stops_delivery()
    {
        var device = new InterruptDevice();
        using var function = Open(device);
        var msi = function.ConfigureInterrupts(PciInterruptKind.Msi);
        function.SetBusMaster(true);

        var e = Assert.Throws<PciDriverException>(() => function.ConfigureInterrupts(PciInterruptKind.MsiX));
        Assert.Contains("DisableInterrupts(Msi)", e.Message);

        function.DisableInterrupts(PciInterruptKind.Msi);
        Assert.False(device.Msi!.Enabled);
        Assert.False(device.SignalMsi(0));
        Assert.Equal(0, msi[0].Take());

        var msix = function.ConfigureInterrupts(PciInterruptKind.MsiX);
        device.SignalMsiX(0);
        Assert.Equal(1, msix[0].Take());
    }

    [Fact]
    public void Reset_uses_FLR_and_the_driver_can_set_up_interrupts_again()
    {
        var device = new InterruptDevice();
        using var function = Open(device);
        function.ConfigureInterrupts(PciInterruptKind.MsiX, 2);
        function.SetBusMaster(true);

        function.Reset();

        Assert.Equal([PciResetKind.FunctionLevel], device.ResetKinds);
        Assert.False(device.MsiX!.Enabled);
        Assert.True(device.MsiX.IsVectorMasked(0));
        Assert.Equal(0, device.Command());
        Assert.Equal(0, function.ConfigRead16(function.FindCapability(PciCapabilityId.PciExpress) + 8) & 0x8000);

        var msi = function.ConfigureInterrupts(PciInterruptKind.Msi);
        function.SetBusMaster(true);
        device.SignalMsi(0);
        Assert.Equal(1, msi[0].Take());
    }

    [Fact]
    public void Reset_without_FLR_falls_back_to_the_backend()
    {
        var device = new InterruptDevice(flr: false);
        using var function = Open(device);

        function.Reset();

        Assert.Equal([PciResetKind.FunctionLevel], device.ResetKinds);
        Assert.Equal(1, device.Counters.ResetCount);
    }
}
