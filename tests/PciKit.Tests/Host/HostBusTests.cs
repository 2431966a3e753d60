using PciKit.Config;
using PciKit.Device;
using PciKit.Host;
using PciKit.Tests.TestDevices;

namespace PciKit.Tests.Host;

/// <summary>The in-process host bus: enumeration, firmware BAR assignment, address decoding, sessions.</summary>
public class HostBusTests
{
    [Fact]
    public void Enumerate_finds_attached_devices_and_empty_slots_read_all_ones()
    {
        using var bus = new PciHostBus();
        var a = bus.Attach(new RegisterDevice());
        var b = bus.Attach(new AllBarsDevice(), slot: 7);

        Assert.Equal([a, b], bus.Enumerate());
        Assert.Equal(new PciAddress(0, 0, 0, 0), a);
        Assert.Equal(new PciAddress(0, 0, 7, 0), b);
        Assert.Equal(0xFFFFu, bus.ConfigRead(new PciAddress(0, 0, 3, 0), PciHeader.VendorId, 2));
        Assert.Equal(0xFFFF_FFFFu, bus.ConfigRead(new PciAddress(0, 0, 3, 0), 0, 4));
        Assert.Equal(0xFFFFu, bus.ConfigRead(new PciAddress(0, 0, 0, 1), PciHeader.VendorId, 2)); // function 1
        Assert.Equal(0x0ba5_1234u, bus.ConfigRead(b, 0, 4));
    }

    [Fact]
    public void Attach_rejects_taken_slots_and_devices_attached_twice()
    {
        using var bus = new PciHostBus();
        var device = new RegisterDevice();
        bus.Attach(device, slot: 2);

        Assert.Throws<InvalidOperationException>(() => bus.Attach(device));
        Assert.Throws<InvalidOperationException>(() => bus.Attach(new RegisterDevice(), slot: 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => bus.Attach(new RegisterDevice(), slot: 32));
    }

    [Fact]
    public void BARs_are_assigned_aligned_to_their_size_in_the_right_window()
    {
        using var bus = new PciHostBus();
        bus.Attach(new RegisterDevice());
        var device = new AllBarsDevice();
        bus.Attach(device);

        for (int i = 0; i <= PciDevice.RomIndex; i++)
        {
            var bar = device.GetBar(i);
            if (bar is null) continue;
            ulong address = device.GetBarAddress(i);
            Assert.NotEqual(0ul, address);
            Assert.True(address % bar.Size == 0, $"BAR {i} at {address:x} is not aligned to {bar.Size:x}");
        }
        Assert.True(device.GetBarAddress(2) >= 1UL << 32, "the 64-bit BAR goes above 4 GiB");
        Assert.InRange(device.GetBarAddress(0), 0xC000_0000ul, 0xFEBF_FFFFul);
        Assert.InRange(device.GetBarAddress(4), 0xC000_0000ul, 0xFEBF_FFFFul);
        Assert.InRange(device.GetBarAddress(1), 0xC000ul, 0xFFFFul);
        Assert.Equal(0u, device.ConfigRead(PciHeader.RomAddress, 4) & 1); // ROM left disabled
    }

    [Fact]
    public void BARs_of_different_devices_do_not_overlap()
    {
        using var bus = new PciHostBus();
        var devices = Enumerable.Range(0, 3).Select(_ => new AllBarsDevice()).ToArray();
        foreach (var d in devices) bus.Attach(d);

        var ranges = devices.SelectMany(d => Enumerable.Range(0, 7).Where(i => d.GetBar(i) is not null && d.GetBar(i)!.Kind != PciBarKind.Io)
            .Select(i => (Start: d.GetBarAddress(i), End: d.GetBarAddress(i) + d.GetBar(i)!.Size))).OrderBy(r => r.Start).ToArray();
        for (int i = 1; i < ranges.Length; i++) Assert.True(ranges[i - 1].End <= ranges[i].Start);
    }

    [Fact]
    public void Decoding_stays_off_after_attach_and_the_interrupt_line_is_set()
    {
        using var bus = new PciHostBus();
        var device = new RegisterDevice();
        bus.Attach(device, slot: 1);

        Assert.Equal(0, device.Command());
        Assert.Equal(11u, device.ConfigRead(PciHeader.InterruptLine, 1));
    }

    [Fact]
    public void Memory_accesses_decode_absolute_addresses_only_while_memory_space_is_on()
    {
        using var bus = new PciHostBus();
        var device = new RegisterDevice();
        bus.Attach(device);
        ulong bar0 = device.GetBarAddress(0);

        Assert.Equal(0xFFFF_FFFFul, bus.MemoryRead(bar0 + RegisterDevice.RegsOffset, 4));
        bus.MemoryWrite(bar0 + RegisterDevice.RamOffset, 4, 0x1234_5678);
        Assert.Equal(0u, device.Ram.Read<uint>(0));

        device.SetCommand(PciCommand.MemorySpace);

        Assert.Equal(0xA000_0004ul, bus.MemoryRead(bar0 + RegisterDevice.RegsOffset + 4, 4));
        bus.MemoryWrite(bar0 + RegisterDevice.RamOffset, 4, 0x1234_5678);
        Assert.Equal(0x1234_5678u, device.Ram.Read<uint>(0));
        Assert.Equal(0xFFFF_FFFFul, bus.MemoryRead(bar0 + 0x1000, 4)); // just past BAR0: nobody claims it
        Assert.Equal(0xFFFF_FFFFul, bus.MemoryRead(0x1000, 4));
    }

    [Fact]
    public void A_reprogrammed_BAR_decodes_at_its_new_address()
    {
        using var bus = new PciHostBus();
        var device = new RegisterDevice();
        bus.Attach(device);
        device.SetCommand(PciCommand.MemorySpace);
        ulong old = device.GetBarAddress(0);

        device.ConfigWrite(PciHeader.Bar0, 4, 0xE000_0000);

        Assert.Equal(0xFFFF_FFFFul, bus.MemoryRead(old + RegisterDevice.RegsOffset, 4));
        Assert.Equal(0xA000_0000ul, bus.MemoryRead(0xE000_0000 + RegisterDevice.RegsOffset, 4));
    }

    [Fact]
    public void A_session_is_exclusive_until_it_is_closed()
    {
        using var bus = new PciHostBus();
        var address = bus.Attach(new RegisterDevice());
        using var first = bus.GetFunction(address);
        using var second = bus.GetFunction(address);
        first.Open();

        var e = Assert.Throws<PciDriverException>(second.Open);
        Assert.Contains("close that session first", e.Message);
        Assert.False(second.IsOpen);

        first.Close();
        second.Open();
        Assert.True(second.IsOpen);
    }

    [Fact]
    public void Accessing_a_closed_session_or_a_missing_device_throws()
    {
        using var bus = new PciHostBus();
        var address = bus.Attach(new RegisterDevice());
        var function = bus.GetFunction(address);

        Assert.Throws<PciDriverException>(() => function.ConfigRead16(0));
        Assert.Throws<PciDriverException>(() => bus.GetFunction(new PciAddress(0, 0, 9, 0)));
        function.Dispose();
        Assert.Throws<ObjectDisposedException>(() => function.ConfigRead16(0));
    }

    [Fact]
    public void Close_turns_off_bus_master_and_decoding_and_invalidates_mappings_and_DMA_buffers()
    {
        using var bus = new PciHostBus();
        var device = new AllBarsDevice();
        var function = bus.GetFunction(bus.Attach(device));
        function.Open();
        function.SetDecoding(true);
        function.SetBusMaster(true);
        var mapping = function.MapBar(2);
        var buffer = function.AllocateDmaBuffer(4096);
        ulong deviceAddress = buffer.DeviceAddress;

        function.Close();

        Assert.Equal(0, device.Command() & (int)(PciCommand.BusMaster | PciCommand.MemorySpace | PciCommand.IoSpace));
        Assert.Throws<ObjectDisposedException>(() => mapping.Read<uint>(0));
        Assert.Throws<ObjectDisposedException>(() => buffer.Span.Length);
        Assert.False(bus.Memory.AddressSpace.TryRead(deviceAddress, new byte[1]));
        Assert.Equal(0, bus.Memory.AddressSpace.Count);
    }

    [Fact]
    public void Detach_frees_the_slot()
    {
        using var bus = new PciHostBus();
        var address = bus.Attach(new RegisterDevice());

        bus.Detach(address);

        Assert.Empty(bus.Enumerate());
        Assert.Throws<PciDriverException>(() => bus.GetDevice(address));
    }

    [Fact]
    public void Unrealized_devices_cannot_be_attached()
    {
        using var bus = new PciHostBus();
        var e = Assert.Throws<PciDefinitionException>(() => bus.Attach(new UnrealizedDevice()));
        Assert.Contains("call Realize()", e.Message);
    }

    private sealed class UnrealizedDevice() : PciDevice(TestIds.Plain);
}
