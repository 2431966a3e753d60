using PciKit.Config;
using PciKit.Device;
using PciKit.Memory;
using PciKit.Tests.TestDevices;

namespace PciKit.Tests.Device;

/// <summary>Device DMA (Bus Master rules, master abort) and the DMA address space it goes through.</summary>
public class DmaTests
{
    private static MemoryDmaWindow Window(ulong address, ulong length, DmaAccess access = DmaAccess.ReadWrite)
    {
        var memory = new NativeMemoryBlock(length);
        return new MemoryDmaWindow(address, memory, 0, length, access, ownsMemory: true);
    }

    private static (RegisterDevice Device, DmaAddressSpace Space, MemoryDmaWindow Window) Attached()
    {
        var device = new RegisterDevice();
        var space = new DmaAddressSpace();
        var window = Window(0x1000, 0x1000);
        Assert.True(space.TryMap(window));
        device.Connect(null, space);
        device.SetCommand(PciCommand.BusMaster);
        return (device, space, window);
    }

    [Fact]
    public void A_device_reads_and_writes_mapped_memory()
    {
        var (device, space, window) = Attached();
        window.Memory.Write<uint>(0x10, 0xDEAD_BEEF);
        var buffer = new byte[4];

        Assert.Equal(DmaStatus.Ok, device.DmaRead(0x1010, buffer));
        Assert.Equal(DmaStatus.Ok, device.DmaWrite(0x1FFC, [1, 2, 3, 4]));

        Assert.Equal(0xDEAD_BEEFu, BitConverter.ToUInt32(buffer));
        Assert.Equal(0x0403_0201u, window.Memory.Read<uint>(0xFFC));
        space.Dispose();
    }

    [Fact]
    public void DMA_is_refused_and_counted_while_Bus_Master_is_off()
    {
        var (device, space, window) = Attached();
        device.SetCommand(PciCommand.None);

        Assert.Equal(DmaStatus.BusMasterDisabled, device.DmaWrite(0x1000, [0xFF]));
        Assert.Equal(DmaStatus.BusMasterDisabled, device.DmaRead(0x1000, new byte[1]));

        Assert.Equal(0, window.Memory.Read<byte>(0));
        Assert.Equal(2, device.Counters.DmaRefusedBusMasterCount);
        Assert.Equal(0, device.Status() & (int)PciStatus.ReceivedMasterAbort);
        space.Dispose();
    }

    [Fact]
    public void DMA_outside_the_mapped_memory_sets_Received_Master_Abort()
    {
        var (device, space, window) = Attached();

        Assert.Equal(DmaStatus.Unmapped, device.DmaWrite(0x1FFE, [1, 2, 3, 4])); // runs past the window
        Assert.Equal(0, window.Memory.Read<ushort>(0xFFE));                       // nothing copied
        Assert.Equal(1, device.Counters.DmaFaultCount);
        Assert.NotEqual(0, device.Status() & (int)PciStatus.ReceivedMasterAbort);

        device.ConfigWrite(PciHeader.Status, 2, (uint)PciStatus.ReceivedMasterAbort);
        Assert.Equal(0, device.Status() & (int)PciStatus.ReceivedMasterAbort);
        space.Dispose();
    }

    [Fact]
    public void A_device_not_attached_to_a_host_gets_NoHost()
    {
        var device = new RegisterDevice();
        device.SetCommand(PciCommand.BusMaster);

        Assert.Equal(DmaStatus.NoHost, device.DmaRead(0, new byte[4]));
        Assert.Equal(1, device.Counters.DmaFaultCount);
    }

    [Fact]
    public void An_access_spanning_adjacent_windows_is_split_across_them()
    {
        using var space = new DmaAddressSpace();
        var low = Window(0x1000, 0x1000);
        var high = Window(0x2000, 0x1000);
        Assert.True(space.TryMap(high));
        Assert.True(space.TryMap(low));

        Assert.True(space.TryWrite(0x1FFE, [1, 2, 3, 4]));
        var back = new byte[4];
        Assert.True(space.TryRead(0x1FFE, back));

        Assert.Equal([1, 2, 3, 4], back);
        Assert.Equal(0x0201, low.Memory.Read<ushort>(0xFFE));
        Assert.Equal(0x0403, high.Memory.Read<ushort>(0));
        Assert.Equal([0x1000ul, 0x2000ul], space.Windows.Select(w => w.Address));
    }

    [Fact]
    public void An_access_across_a_gap_fails_as_a_whole()
    {
        using var space = new DmaAddressSpace();
        var low = Window(0x1000, 0x1000);
        var high = Window(0x3000, 0x1000);
        space.TryMap(low);
        space.TryMap(high);

        Assert.False(space.TryWrite(0x1FFE, new byte[0x1004]));
        Assert.False(space.TryRead(0x0FFF, new byte[2]));  // starts before the first window
        Assert.False(space.TryRead(0x4000, new byte[1]));  // after the last

        Assert.Equal(0, low.Memory.Read<ushort>(0xFFE));
    }

    [Fact]
    public void Window_rights_are_enforced_for_every_window_an_access_touches()
    {
        using var space = new DmaAddressSpace();
        var readOnly = Window(0x1000, 0x1000, DmaAccess.Read);
        var writeOnly = Window(0x2000, 0x1000, DmaAccess.Write);
        space.TryMap(readOnly);
        space.TryMap(writeOnly);
        readOnly.Memory.Write<byte>(0, 0x77);

        var one = new byte[1];
        Assert.True(space.TryRead(0x1000, one));
        Assert.Equal(0x77, one[0]);
        Assert.False(space.TryWrite(0x1000, [1]));
        Assert.True(space.TryWrite(0x2000, [1]));
        Assert.False(space.TryRead(0x2000, one));
        Assert.False(space.TryWrite(0x1FFF, [1, 2])); // the first half is read-only
        Assert.Equal(0x77, readOnly.Memory.Read<byte>(0));
    }

    [Theory]
    [InlineData(0x1000ul, 0x1000ul)]
    [InlineData(0x0800ul, 0x0801ul)] // last byte overlaps
    [InlineData(0x1FFFul, 0x0010ul)] // first byte overlaps
    [InlineData(0x1800ul, 0x0100ul)] // inside
    [InlineData(0x0000ul, 0x4000ul)] // covers
    public void Overlapping_windows_are_refused(ulong address, ulong length)
    {
        using var space = new DmaAddressSpace();
        Assert.True(space.TryMap(Window(0x1000, 0x1000)));

        var overlapping = Window(address, length);
        Assert.False(space.TryMap(overlapping));
        Assert.Equal(1, space.Count);
        overlapping.Memory.Dispose();
    }

    [Fact]
    public void Unmapping_needs_the_exact_window_and_releases_its_memory()
    {
        using var space = new DmaAddressSpace();
        var window = Window(0x1000, 0x1000);
        space.TryMap(window);

        Assert.False(space.TryUnmap(0x1000, 0x800));
        Assert.False(space.TryUnmap(0x1800, 0x800));
        Assert.False(window.Memory.IsDisposed);
        Assert.True(space.TryUnmap(0x1000, 0x1000));

        Assert.True(window.Memory.IsDisposed);
        Assert.Equal(0, space.Count);
        Assert.False(space.TryRead(0x1000, new byte[1]));
        Assert.False(space.TryUnmap(0x1000, 0x1000));
    }

    [Fact]
    public void A_window_that_does_not_own_its_memory_leaves_it_alone()
    {
        using var memory = new NativeMemoryBlock(0x2000);
        using var space = new DmaAddressSpace();
        space.TryMap(new MemoryDmaWindow(0x10_0000, memory, 0x1000, 0x1000, DmaAccess.ReadWrite, ownsMemory: false));

        Assert.True(space.TryWrite(0x10_0000, [9]));
        space.UnmapAll();

        Assert.False(memory.IsDisposed);
        Assert.Equal(9, memory.Read<byte>(0x1000)); // the window starts at offset 0x1000 of its memory
    }

    [Fact]
    public void Windows_cannot_be_empty_wrap_or_leave_their_memory()
    {
        using var memory = new NativeMemoryBlock(0x1000);
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryDmaWindow(0, memory, 0, 0, DmaAccess.Read, false));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryDmaWindow(ulong.MaxValue, memory, 0, 2, DmaAccess.Read, false));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryDmaWindow(0, memory, 0x800, 0x1000, DmaAccess.Read, false));
    }

    [Fact]
    public void A_pin_inside_one_memory_window_aliases_its_memory_and_holds_the_window_until_disposed()
    {
        var space = new DmaAddressSpace();
        var window = Window(0x1000, 0x1000);
        Assert.True(space.TryMap(window));
        Assert.True(space.TryPin(0x1800, 0x100, DmaAccess.Write, out var pin));
        Assert.Equal(0x800UL, pin.Offset);
        pin.Span.Fill(0x7E);
        Assert.Equal(0x7E7E7E7Eu, window.Memory.Read<uint>(0x800));
        Assert.True(space.TryRemove(0x1000, 0x1000, out var removed));
        Assert.False(removed.IsIdle);   // an unmap waits for the pin
        pin.Dispose();
        Assert.True(removed.IsIdle);
        removed.Release();
    }

    [Fact]
    public void Ranges_across_windows_outside_them_or_without_the_right_cannot_be_pinned()
    {
        var space = new DmaAddressSpace();
        Assert.True(space.TryMap(Window(0x1000, 0x1000)));
        Assert.True(space.TryMap(Window(0x2000, 0x1000, DmaAccess.Read)));
        Assert.False(space.TryPin(0x1F00, 0x200, DmaAccess.Read, out _));   // spans two windows: copy instead
        Assert.False(space.TryPin(0x3000, 0x10, DmaAccess.Read, out _));    // unmapped
        Assert.False(space.TryPin(0x0F00, 0x200, DmaAccess.Read, out _));   // starts before the first window
        Assert.False(space.TryPin(0x2000, 0x10, DmaAccess.Write, out _));   // read-only window
        Assert.False(space.TryPin(0x1000, 0, DmaAccess.Read, out _));
        Assert.All(space.Windows, w => Assert.True(w.IsIdle));
        space.Dispose();
    }

    [Fact]
    public void A_device_pins_only_with_Bus_Master_on()
    {
        var (device, space, _) = Attached();
        Assert.True(device.Dma.TryPin(0x1000, 16, write: true, out var pin));
        pin.Dispose();
        device.SetCommand(0);
        Assert.False(device.Dma.TryPin(0x1000, 16, write: true, out _));
        space.Dispose();
    }
}
