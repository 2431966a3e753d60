using System.Buffers.Binary;
using PciKit.Devices.Edu;
using PciKit.Devices.Sample;
using PciKit.Linux;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>DEVICE_GET_REGION_INFO (5): sizes and flags of regions 0–8, mmap fds, SPARSE_MMAP, the argsz retry.</summary>
public sealed class GetRegionInfoCommandTests
{
    private const uint Read = 1, Write = 2, Mmap = 4, Caps = 8;

    /// <summary>u32 argsz, flags, index, cap_offset; u64 size, offset.</summary>
    private static byte[] Request(uint index, uint argsz = 32)
    {
        var p = new byte[32];
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(0), argsz);
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(8), index);
        return p;
    }

    private static (uint Flags, ulong Size, Message Reply) Info(RawClient c, uint index, uint argsz = 32)
    {
        var reply = c.CallOk(Cmd.GetRegionInfo, Request(index, argsz));
        Assert.True(reply.Payload.Length >= 32);
        Assert.Equal(index, reply.U32(8));
        return (reply.U32(4), reply.U64(16), reply);
    }

    [Fact]
    public void EduHasOneMebibyteBar0AndA256ByteConfigSpace()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        var expected = new (ulong Size, uint Flags)[]
        {
            (0x100000, Read | Write), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), // BAR0–5
            (0, 0),              // no expansion ROM
            (256, Read | Write), // conventional config space
            (0, 0),              // VGA
        };
        for (uint i = 0; i < 9; i++)
        {
            var (flags, size, reply) = Info(c, i);
            using (reply)
            {
                Assert.Equal(32, reply.Payload.Length);
                Assert.Equal(32u, reply.U32(0));   // argsz: nothing more needed
                Assert.Equal(0u, reply.U32(12));   // no capabilities
                Assert.Equal(expected[i].Size, size);
                Assert.Equal(expected[i].Flags, flags);
                Assert.Empty(reply.Fds);
            }
        }
    }

    [Fact]
    public void SampleHasIoAnd64BitBarsAReadOnlyRomAnd4KiBConfigSpace()
    {
        using var h = new ServerHarness(new SampleDevice());
        using var c = h.ConnectNegotiated();
        var expected = new (ulong Size, uint Flags)[]
        {
            (0x2000, Read | Write),     // BAR0 registers + MSI-X
            (16, Read | Write),         // BAR1 I/O
            (0x100000, Read | Write),   // BAR2 64-bit RAM: native memory, so no MMAP
            (0, 0),                     // BAR3: upper half of BAR2
            (0, 0), (0, 0),
            (0x800, Read),              // ROM: read-only
            (4096, Read | Write),       // PCI Express config space
            (0, 0),
        };
        for (uint i = 0; i < 9; i++)
        {
            var (flags, size, reply) = Info(c, i);
            using (reply)
            {
                Assert.Equal(expected[i].Size, size);
                Assert.Equal(expected[i].Flags, flags);
                Assert.Empty(reply.Fds);
            }
        }
    }

    [Theory]
    [InlineData(9u)]
    [InlineData(0xFFFFFFFFu)]
    public void AnIndexPastVgaIsEinval(uint index)
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.CallExpectError(Cmd.GetRegionInfo, Request(index), Errno.EINVAL);
    }

    [Fact]
    public void ArgszBelow32IsEinval()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.CallExpectError(Cmd.GetRegionInfo, Request(0, argsz: 16), Errno.EINVAL);
        c.CallExpectError(Cmd.GetRegionInfo, Request(0).AsSpan(0, 24), Errno.EINVAL);
    }

    [Fact]
    public void AShareableBarIsMmapAbleAndTheMappingIsTheDevicesMemory()
    {
        using var device = new SharedBarDevice();
        using var h = new ServerHarness(device);
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        var (flags, size, reply) = Info(c, 0);
        using (reply)
        {
            Assert.Equal(Read | Write | Mmap, flags);
            Assert.Equal(SharedBarDevice.BarSize, size);
            Assert.Equal(32, reply.Payload.Length); // the whole region maps: no SPARSE_MMAP
            Assert.Equal(0u, reply.U32(12));
            var fd = Assert.Single(reply.Fds);
            using var mapping = MemoryMapping.Map(fd, reply.U64(24), size);

            // Client writes through the mapping; the server's REGION_READ and the device model see it.
            mapping.Write(0x1230, 0xA1B2C3D4u);
            Assert.Equal(0xA1B2C3D4u, c.Read32(0, 0x1230));
            Assert.Equal(0xA1B2C3D4u, device.Whole.Read<uint>(0x1230));

            // REGION_WRITE through the server shows in the mapping.
            c.Write(0, 0x3FF8, Bytes.Hex("0102030405060708"));
            Assert.Equal(0x0807060504030201ul, mapping.Read<ulong>(0x3FF8));
        }
    }

    [Fact]
    public void AMixedBarAsksForALargerArgszThenListsItsSparseMmapArea()
    {
        using var device = new SharedBarDevice();
        using var h = new ServerHarness(device);
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();

        // argsz 32 is too small for the capability: the reply says how much is needed and carries no capability.
        var (flags, size, first) = Info(c, 2);
        const uint needed = 32 + 8 + 8 + 16; // struct + cap header + nr_areas/reserved + one area
        using (first)
        {
            Assert.Equal(Read | Write | Mmap | Caps, flags);
            Assert.Equal(SharedBarDevice.BarSize, size);
            Assert.Equal(needed, first.U32(0));
            Assert.Equal(0u, first.U32(12)); // cap_offset: none included
            Assert.Equal(32, first.Payload.Length);
        }

        var (_, _, second) = Info(c, 2, argsz: needed);
        using (second)
        {
            Assert.Equal((int)needed, second.Payload.Length);
            Assert.Equal(needed, second.U32(0));
            Assert.Equal(Read | Write | Mmap | Caps, second.U32(4));
            Assert.Equal(32u, second.U32(12));                      // cap_offset
            ulong regionOffset = second.U64(24);
            Assert.Equal(SharedBarDevice.MixedRamFileOffset - SharedBarDevice.MixedRamOffset, regionOffset);
            var cap = second.Payload.AsSpan(32);
            Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(cap[0..]));    // id SPARSE_MMAP
            Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(cap[2..]));    // version
            Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(cap[4..]));   // next: end of chain
            Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(cap[8..]));   // nr_areas
            Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(cap[12..]));  // reserved
            Assert.Equal(SharedBarDevice.MixedRamOffset, BinaryPrimitives.ReadUInt64LittleEndian(cap[16..]));
            Assert.Equal(SharedBarDevice.MixedRamSize, BinaryPrimitives.ReadUInt64LittleEndian(cap[24..]));

            // The area maps at region offset + area offset and is the device's memory; the registers stay trapped.
            var fd = Assert.Single(second.Fds);
            using var mapping = MemoryMapping.Map(fd, regionOffset + SharedBarDevice.MixedRamOffset, SharedBarDevice.MixedRamSize);
            mapping.Write(0x10, 0x55AA55AAu);
            Assert.Equal(0x55AA55AAu, c.Read32(2, SharedBarDevice.MixedRamOffset + 0x10));
            Assert.Equal(0x55AA55AAu, device.MixedRam.Read<uint>(0x10));
            c.Write32(2, SharedBarDevice.MixedRamOffset + 0x1FFC, 0x0BADF00Du);
            Assert.Equal(0x0BADF00Du, mapping.Read<uint>(0x1FFC));
            c.Write32(2, 0, 0x12345678u);
            Assert.Equal(0x12345678u, device.Scratch);
            Assert.Equal(0xC0FFEE08u, c.Read32(2, 0x3008));
        }
    }
}
