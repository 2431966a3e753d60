using PciKit.Capabilities;
using PciKit.Config;
using PciKit.Driver;
using PciKit.Host;
using PciKit.Tests.TestDevices;

namespace PciKit.Tests.Capabilities;

/// <summary>The capability list (PCI 3.0, 6.7) and the extended capability list (PCIe base spec, 7.6).</summary>
public class CapabilityChainTests
{
    private static (int Offset, byte Id, byte Next)[] Walk(CustomDevice device)
    {
        var list = new List<(int, byte, byte)>();
        for (int at = (int)device.ConfigRead(PciHeader.CapabilitiesPointer, 1); at != 0; at = (int)device.ConfigRead(at + 1, 1))
            list.Add((at, (byte)device.ConfigRead(at, 1), (byte)device.ConfigRead(at + 1, 1)));
        return [.. list];
    }

    private static VendorSpecificCapability Vendor(int dataBytes) => new(new byte[dataBytes]);

    [Fact]
    public void Capabilities_are_placed_one_after_another_from_0x40_and_linked_in_order()
    {
        var device = new CustomDevice(d =>
        {
            d.Capability(new PowerManagementCapability());                     // 8 bytes
            d.Capability(new MsiCapability(4, is64Bit: true, perVectorMask: true)); // 24 bytes
            d.Capability(Vendor(2));                                           // 5 bytes
            d.Capability(Vendor(1));                                           // 4 bytes
        });

        Assert.Equal([(0x40, (byte)0x01, (byte)0x48), (0x48, (byte)0x05, (byte)0x60), (0x60, (byte)0x09, (byte)0x68), (0x68, (byte)0x09, (byte)0)], Walk(device));
        Assert.Equal([0x40, 0x48, 0x60, 0x68], device.Capabilities.Select(c => c.Offset));
    }

    [Fact]
    public void Explicit_offsets_are_honoured_and_the_list_follows_definition_order()
    {
        var device = new CustomDevice(d =>
        {
            d.Capability(new MsiCapability(), 0x80);
            d.Capability(new PowerManagementCapability(), 0x50);
        });

        Assert.Equal([(0x80, (byte)0x05, (byte)0x50), (0x50, (byte)0x01, (byte)0)], Walk(device));
    }

    [Fact]
    public void Automatic_placement_goes_around_explicit_offsets()
    {
        var device = new CustomDevice(d =>
        {
            d.Capability(new PowerManagementCapability());   // automatic
            d.Capability(new MsiCapability(), 0x40);         // explicit, 14 bytes: 0x40–0x4D
        });

        var pm = device.Capabilities.OfType<PowerManagementCapability>().Single();
        Assert.Equal(0x50, pm.Offset);
        Assert.Equal([(0x50, (byte)0x01, (byte)0x40), (0x40, (byte)0x05, (byte)0)], Walk(device));
    }

    [Fact]
    public void Automatic_placement_uses_free_space_before_an_explicit_capability()
    {
        var device = new CustomDevice(d =>
        {
            d.Capability(new PowerManagementCapability(), 0xF8); // the last 8 bytes
            d.Capability(new MsiCapability(32, is64Bit: true, perVectorMask: true));
        });

        Assert.Equal(0x40, device.Msi!.Offset);
    }

    [Fact]
    public void Overlapping_explicit_offsets_are_rejected()
    {
        var e = Assert.Throws<PciDefinitionException>(() => new CustomDevice(d =>
        {
            d.Capability(new MsiCapability(), 0x40);
            d.Capability(new PowerManagementCapability(), 0x4C);
        }));
        Assert.Contains("overlaps MsiCapability at 0x40", e.Message);
    }

    [Theory]
    [InlineData(0x3C)]
    [InlineData(0x42)]
    [InlineData(0xFC)]
    public void Explicit_offsets_must_be_aligned_and_inside_the_capability_area(int offset)
    {
        var e = Assert.Throws<PciDefinitionException>(() => new CustomDevice(d => d.Capability(new PowerManagementCapability(), offset)));
        Assert.Contains("dword-aligned and lie within 0x40–0xFF", e.Message);
    }

    [Fact]
    public void Capabilities_that_do_not_fit_are_rejected_with_advice()
    {
        var e = Assert.Throws<PciDefinitionException>(() => new CustomDevice(d =>
        {
            d.Capability(Vendor(150));
            d.Capability(Vendor(150));
        }));
        Assert.Contains("move one to an extended capability", e.Message);
    }

    [Fact]
    public void A_capability_object_belongs_to_one_device_and_MSI_appears_once()
    {
        var shared = new PowerManagementCapability();
        _ = new CustomDevice(d => d.Capability(shared));
        Assert.Throws<PciDefinitionException>(() => new CustomDevice(d => d.Capability(shared)));

        var twice = Assert.Throws<PciDefinitionException>(() => new CustomDevice(d =>
        {
            d.Capability(new MsiCapability());
            d.Capability(new MsiCapability());
        }));
        Assert.Contains("at most one MSI", twice.Message);
    }

    [Fact]
    public void Capability_bytes_are_read_only_unless_the_capability_makes_them_writable()
    {
        var device = new CustomDevice(d =>
        {
            d.Capability(new VendorSpecificCapability([1, 2, 3, 4, 5], writeMask: [0, 0, 0xFF, 0x0F, 0]));
            d.Capability(new VendorSpecificCapability([9, 9, 9, 9, 9]));
        });
        var before = device.Config.Bytes.ToArray();

        for (int at = 0x40; at < 0x100; at += 4) device.ConfigWrite(at, 4, 0xFFFF_FFFF);

        var after = device.Config.Bytes.ToArray();
        Assert.Equal(0x09, after[0x40]);           // ID
        Assert.Equal(before[0x41], after[0x41]);   // next
        Assert.Equal(8, after[0x42]);              // length: 3 + 5
        Assert.Equal([1, 2, 0xFF, 0x0F, 5], after[0x43..0x48]);
        for (int at = 0x48; at < 0x100; at++)      // the second capability and the free space
            Assert.True(before[at] == after[at], $"byte {at:x} changed");
    }

    [Fact]
    public void The_driver_finds_capabilities_and_iterates_over_repeated_ones()
    {
        using var bus = new PciHostBus();
        var device = new CustomDevice(d =>
        {
            d.Capability(Vendor(4));
            d.Capability(new PowerManagementCapability());
            d.Capability(Vendor(8));
        });
        using var function = bus.GetFunction(bus.Attach(device));
        function.Open();

        int first = function.FindCapability(PciCapabilityId.VendorSpecific);
        int second = function.FindCapability(PciCapabilityId.VendorSpecific, first);

        Assert.Equal(0x40, first);
        Assert.Equal(device.Capabilities.Last().Offset, second);
        Assert.Equal(0, function.FindCapability(PciCapabilityId.VendorSpecific, second));
        Assert.Equal(device.Capabilities.ElementAt(1).Offset, function.FindCapability(PciCapabilityId.PowerManagement));
        Assert.Equal(0, function.FindCapability(PciCapabilityId.MsiX));
    }

    [Fact]
    public void A_function_without_a_capability_list_has_no_capabilities()
    {
        using var bus = new PciHostBus();
        using var function = bus.GetFunction(bus.Attach(new CustomDevice(TestIds.Plain)));
        function.Open();

        Assert.Equal(0, function.FindCapability(PciCapabilityId.PowerManagement));
        Assert.Equal(0, function.FindExtendedCapability(PciExtendedCapabilityId.DeviceSerialNumber));
    }

    [Fact]
    public void The_extended_list_starts_at_0x100_with_headers_of_id_version_and_next()
    {
        var device = new CustomDevice(d =>
        {
            d.Capability(new PciExpressCapability());
            d.Extended(new DeviceSerialNumberCapability(0x0102_0304_0506_0708));
            d.Extended(new RawExtendedCapability((ushort)PciExtendedCapabilityId.VendorSpecific, 1, new byte[8]));
        });

        Assert.Equal(0x10C1_0003u, device.ConfigRead(0x100, 4));           // DSN v1, next 0x10C
        Assert.Equal(0x0506_0708u, device.ConfigRead(0x104, 4));
        Assert.Equal(0x0102_0304u, device.ConfigRead(0x108, 4));
        Assert.Equal(0x0001_000Bu, device.ConfigRead(0x10C, 4));           // vendor-specific v1, last
    }

    [Fact]
    public void The_driver_walks_the_extended_list()
    {
        using var bus = new PciHostBus();
        var device = new CustomDevice(d =>
        {
            d.Capability(new PciExpressCapability());
            d.Extended(new RawExtendedCapability(0x000B, 1, new byte[4]));
            d.Extended(new DeviceSerialNumberCapability(42), 0x200);
            d.Extended(new RawExtendedCapability(0x000B, 1, new byte[4]));
        });
        using var function = bus.GetFunction(bus.Attach(device));
        function.Open();

        int dsn = function.FindExtendedCapability(PciExtendedCapabilityId.DeviceSerialNumber);
        int vendor1 = function.FindExtendedCapability(PciExtendedCapabilityId.VendorSpecific);
        int vendor2 = function.FindExtendedCapability(PciExtendedCapabilityId.VendorSpecific, vendor1);

        Assert.Equal(0x200, dsn);
        Assert.Equal(42u, function.ConfigRead32(dsn + 4));
        Assert.Equal(0x100, vendor1);
        Assert.Equal(device.ExtendedCapabilities.Last().Offset, vendor2);
        Assert.Equal(0, function.FindExtendedCapability(PciExtendedCapabilityId.VendorSpecific, vendor2));
        Assert.Equal(0, function.FindExtendedCapability(PciExtendedCapabilityId.AdvancedErrorReporting));
    }

    [Fact]
    public void Extended_capability_bytes_are_read_only_unless_masked()
    {
        var device = new CustomDevice(d =>
        {
            d.Capability(new PciExpressCapability());
            d.Extended(new DeviceSerialNumberCapability(7));
            d.Extended(new RawExtendedCapability(0x000B, 1, [1, 2, 3, 4], writeMask: [0xFF, 0, 0, 0]));
        });

        device.ConfigWrite(0x100, 4, 0);
        device.ConfigWrite(0x104, 4, 0xFFFF_FFFF);
        device.ConfigWrite(0x110, 4, 0xFFFF_FFFF);

        Assert.Equal(0x10C1_0003u, device.ConfigRead(0x100, 4));
        Assert.Equal(7u, device.ConfigRead(0x104, 4));
        Assert.Equal(0x0403_02FFu, device.ConfigRead(0x110, 4));
    }

    [Fact]
    public void Extended_capabilities_need_PCI_Express_and_start_at_0x100()
    {
        var noExpress = Assert.Throws<PciDefinitionException>(() => new CustomDevice(d => d.Extended(new DeviceSerialNumberCapability(1))));
        Assert.Contains("add a PciExpressCapability", noExpress.Message);

        var notAt100 = Assert.Throws<PciDefinitionException>(() => new CustomDevice(d =>
        {
            d.Capability(new PciExpressCapability());
            d.Extended(new DeviceSerialNumberCapability(1), 0x200);
        }));
        Assert.Contains("place the first extended capability there", notAt100.Message);
    }

    [Fact]
    public void A_PCI_Express_function_without_extended_capabilities_has_a_zero_header_at_0x100()
    {
        var device = new CustomDevice(d => d.Capability(new PciExpressCapability()));
        Assert.Equal(0u, device.ConfigRead(0x100, 4));
    }

    /// <summary>A capability whose data dword mirrors a counter, refreshed on every read (like virtio's PCI configuration access window).</summary>
    private sealed class CountingCapability : PciCapability
    {
        public int Reads;
        public override byte Id => (byte)PciCapabilityId.VendorSpecific;
        public override int Length => 8;
        protected internal override bool ObservesReads => true;
        protected override void Initialize() => Set8(2, 8);
        protected internal override void OnConfigRead(int offset, int size)
        {
            if (Touches(offset, size, 4, 4)) Set32(4, (uint)++Reads);
        }
    }

    [Fact]
    public void A_capability_that_observes_reads_refreshes_its_bytes_before_each_read_that_touches_it_and_only_then()
    {
        var counting = new CountingCapability();
        var device = new CustomDevice(d =>
        {
            d.Capability(new PowerManagementCapability());
            d.Capability(counting);
        });
        int at = counting.Offset;
        Assert.Equal(1u, device.ConfigRead(at + 4, 4));
        Assert.Equal(2u, device.ConfigRead(at + 4, 4));
        Assert.Equal(3u, device.ConfigRead(at + 4, 1));
        device.ConfigRead(at, 4);          // the header: no refresh
        device.ConfigRead(0x40, 4);        // another capability: no refresh
        device.ConfigRead(PciHeader.VendorId, 4);
        Assert.Equal(3, counting.Reads);
    }
}
