using PciKit.Capabilities;
using PciKit.Config;
using PciKit.Device;
using PciKit.Devices.Ivshmem;
using PciKit.Driver;
using PciKit.Host;
using PciKit.Memory;
using PciKit.Tests.TestDevices;
using R = PciKit.Devices.Ivshmem.IvshmemDevice.Registers;

namespace PciKit.Tests.Ivshmem;

/// <summary>The ivshmem device's header and BAR0 registers, driven through the driver API over the in-process bus.</summary>
public sealed class IvshmemRegisterTests : IDisposable
{
    private readonly PciHostBus _bus = new();

    public void Dispose() => _bus.Dispose();

    private PciFunction Open(PciDevice device)
    {
        var function = _bus.GetFunction(_bus.Attach(device));
        function.Open();
        function.SetDecoding(true);
        return function;
    }

    [Theory]
    [InlineData(IvshmemVariant.Plain)]
    [InlineData(IvshmemVariant.Doorbell)]
    [InlineData(IvshmemVariant.Intx)]
    public void Identity_matches_QEMU(IvshmemVariant variant)
    {
        using var function = Open(new IvshmemDevice(new IvshmemOptions { Variant = variant }));

        Assert.Equal(0x1110_1af4u, function.ConfigRead32(PciHeader.VendorId));
        Assert.Equal(0x0500_0001u, function.ConfigRead32(PciHeader.RevisionId)); // class 05 00 00, revision 1
        Assert.Equal(0x1100_1af4u, function.ConfigRead32(PciHeader.SubsystemVendorId));
        Assert.Equal(variant == IvshmemVariant.Intx ? 1 : 0, function.ConfigRead8(PciHeader.InterruptPin));
    }

    [Fact]
    public void Plain_has_registers_and_shared_memory_and_no_capabilities()
    {
        using var function = Open(new IvshmemDevice());

        Assert.Equal(new PciBarInfo(0, PciBarKind.Memory32, 256, false, function.GetBarInfo(0).Address), function.GetBarInfo(0));
        Assert.False(function.GetBarInfo(1).IsImplemented);
        var shm = function.GetBarInfo(2);
        Assert.Equal((PciBarKind.Memory64, IvshmemOptions.DefaultSharedMemorySize, true), (shm.Kind, shm.Size, shm.Prefetchable));
        Assert.Equal(0, function.ConfigRead16(PciHeader.Status) & (int)PciStatus.CapabilitiesList);
        Assert.Equal(0, function.FindCapability(PciCapabilityId.MsiX));
    }

    [Fact]
    public void Doorbell_places_MSI_X_at_0x40_with_the_table_at_0_and_the_PBA_at_0x800_of_BAR1()
    {
        // QEMU 7.2's ivshmem-doorbell,vectors=2 reads 0x00010011 0x00000001 0x00000801 at 0x40 and a 4 KiB BAR1.
        using var function = Open(new IvshmemLoopback(vectors: 2).JoinDevice());

        Assert.Equal(IvshmemDevice.MsiXCapabilityOffset, function.FindCapability(PciCapabilityId.MsiX));
        Assert.Equal(0x0001_0011u, function.ConfigRead32(0x40));
        Assert.Equal(0x0000_0001u, function.ConfigRead32(0x44));
        Assert.Equal(0x0000_0801u, function.ConfigRead32(0x48));
        Assert.Equal(0, function.ConfigRead8(0x41)); // the only capability
        var bar1 = function.GetBarInfo(1);
        Assert.Equal((PciBarKind.Memory32, 0x1000UL, false), (bar1.Kind, bar1.Size, bar1.Prefetchable));
    }

    [Theory]
    [InlineData(1, 0x1000, 0x800)]
    [InlineData(128, 0x1000, 0x800)]
    [InlineData(129, 0x1000, 0x810)]    // the table outgrows the lower half: the PBA follows it
    [InlineData(256, 0x2000, 0x1000)]   // ... and the BAR doubles when they no longer fit in 4 KiB
    [InlineData(2048, 0x10000, 0x8000)]
    public void The_MSI_X_BAR_grows_as_QEMU_lays_it_out(int vectors, ulong barSize, ulong pbaOffset)
    {
        Assert.Equal((barSize, pbaOffset), IvshmemDevice.MsiXBarLayout(vectors));
        var device = new IvshmemDevice(new IvshmemOptions { Variant = IvshmemVariant.Doorbell, Vectors = vectors, SharedMemorySize = 4096 });
        Assert.Equal(barSize, device.GetBar(1)!.Size);
        Assert.Equal(pbaOffset, device.MsiX!.PbaOffset);
    }

    [Fact]
    public void IntrMask_is_read_write_and_IntrStatus_is_cleared_by_reading_it()
    {
        using var function = Open(new IvshmemDevice());

        function.MemoryWrite32(0, R.IntrMask, 0xDEAD_BEEF);
        Assert.Equal(0xDEAD_BEEFu, function.MemoryRead32(0, R.IntrMask));
        Assert.Equal(0xDEAD_BEEFu, function.MemoryRead32(0, R.IntrMask)); // reading the mask does not change it

        function.MemoryWrite32(0, R.IntrStatus, 0x8000_0005);
        Assert.Equal(0x8000_0005u, function.MemoryRead32(0, R.IntrStatus));
        Assert.Equal(0u, function.MemoryRead32(0, R.IntrStatus));
    }

    [Fact]
    public void IVPosition_is_read_only_and_is_0_without_a_link_else_the_own_peer_id()
    {
        var hub = new IvshmemLoopback(vectors: 1);
        using var alone = Open(new IvshmemDevice());
        using var first = Open(hub.JoinDevice());
        using var second = Open(hub.JoinDevice());

        Assert.Equal(0u, alone.MemoryRead32(0, R.IVPosition));
        Assert.Equal(0u, first.MemoryRead32(0, R.IVPosition));
        Assert.Equal(1u, second.MemoryRead32(0, R.IVPosition));
        second.MemoryWrite32(0, R.IVPosition, 7);
        Assert.Equal(1u, second.MemoryRead32(0, R.IVPosition));
    }

    [Fact]
    public void Doorbell_is_write_only_and_the_reserved_registers_read_zero_and_ignore_writes()
    {
        var device = new IvshmemDevice();
        using var function = Open(device);

        function.MemoryWrite32(0, R.Doorbell, 0x0001_0000);
        Assert.Equal(0u, function.MemoryRead32(0, R.Doorbell));
        for (ulong offset = 0x10; offset < 0x100; offset += 4)
        {
            function.MemoryWrite32(0, offset, 0xFFFF_FFFF);
            Assert.Equal(0u, function.MemoryRead32(0, offset));
        }
        Assert.Equal(0u, function.MemoryRead32(0, R.IntrMask));
        Assert.Equal(0, device.Counters.InvalidBarAccessCount);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    public void Only_4_byte_register_accesses_reach_the_registers(int size)
    {
        var device = new IvshmemDevice();
        using var function = Open(device);
        function.MemoryWrite32(0, R.IntrStatus, 1);

        ulong read = size switch { 1 => function.MemoryRead8(0, R.IntrStatus), 2 => function.MemoryRead16(0, R.IntrStatus), _ => function.MemoryRead64(0, 0) };
        switch (size)
        {
            case 1: function.MemoryWrite8(0, R.IntrMask, 0xFF); break;
            case 2: function.MemoryWrite16(0, R.IntrMask, 0xFFFF); break;
            default: function.MemoryWrite64(0, 0, ulong.MaxValue); break;
        }

        Assert.Equal(size == 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1, read);
        Assert.Equal(2, device.Counters.InvalidBarAccessCount);
        Assert.Equal(0u, function.MemoryRead32(0, R.IntrMask));
        Assert.Equal(1u, function.MemoryRead32(0, R.IntrStatus)); // the narrow read did not clear it
    }

    [Fact]
    public void BAR2_is_the_shared_memory_seen_through_a_mapping_and_through_MemoryRead()
    {
        var device = new IvshmemDevice(new IvshmemOptions { SharedMemorySize = 1 << 16 });
        using var function = Open(device);
        using var mapping = function.MapBar(2);

        Assert.Equal(1UL << 16, mapping.Length);
        mapping.Write<ulong>(0xFFF8, 0x0123_4567_89AB_CDEF);
        Assert.Equal(0x0123_4567_89AB_CDEFUL, device.SharedMemory.Read<ulong>(0xFFF8));
        Assert.Equal(0x89AB_CDEFu, function.MemoryRead32(2, 0xFFF8));
        function.MemoryWrite8(2, 0x10, 0x5A);
        Assert.Equal(0x5A, mapping.Read<byte>(0x10));
        Assert.Throws<PciDriverException>(() => function.MapBar(0)); // registers are not memory
    }

    [Fact]
    public void Supplied_memory_is_used_as_it_is_and_must_be_a_power_of_two()
    {
        using var memory = new NativeMemoryBlock(8192);
        memory.Write<uint>(0, 0xC0FFEE);
        var device = new IvshmemDevice(new IvshmemOptions { SharedMemory = memory });
        Assert.Same(memory, device.SharedMemory);
        Assert.Equal(8192UL, device.GetBar(2)!.Size);

        using var odd = new NativeMemoryBlock(12288);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new IvshmemDevice(new IvshmemOptions { SharedMemory = odd }));
        Assert.Contains("power of two", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new IvshmemDevice(new IvshmemOptions { SharedMemorySize = 2048 }));
        Assert.Throws<ArgumentException>(() => new IvshmemDevice(new IvshmemOptions { Link = new IvshmemLoopback().Join() }));
    }

    [Fact]
    public void Reset_clears_the_registers_but_not_the_shared_memory()
    {
        var device = new IvshmemDevice(new IvshmemOptions { SharedMemorySize = 4096 });
        using var function = Open(device);
        function.MemoryWrite32(0, R.IntrMask, 3);
        function.MemoryWrite32(0, R.IntrStatus, 3);
        function.MemoryWrite32(2, 0x100, 0xABCD);

        function.Reset(PciResetKind.Conventional);
        function.SetDecoding(true);

        Assert.Equal(0u, function.MemoryRead32(0, R.IntrMask));
        Assert.Equal(0u, function.MemoryRead32(0, R.IntrStatus));
        Assert.Equal(0xABCDu, function.MemoryRead32(2, 0x100)); // peers own the memory too
    }
}
