using System.Buffers.Binary;
using PciKit.Devices.Edu;
using PciKit.Devices.Sample;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>REGION_READ (9) and REGION_WRITE (10): config space, BAR registers, posted writes, and every refusal.</summary>
public sealed class RegionAccessCommandTests
{
    private const uint Config = 7;

    [Fact]
    public void ConfigSpaceReadsExactlyAsTheCoreModel()
    {
        var device = new SampleDevice();
        using var h = new ServerHarness(device);
        using var c = h.ConnectNegotiated();
        byte[] all = c.Read(Config, 0, 4096); // one read of the whole PCIe config space
        for (int o = 0; o < 4096; o += 4)
            Assert.True(device.ConfigRead(o, 4) == BinaryPrimitives.ReadUInt32LittleEndian(all.AsSpan(o)), $"config dword 0x{o:x3} differs");
        Assert.Equal(0x00fe1b36u, BinaryPrimitives.ReadUInt32LittleEndian(all));
        // Unaligned and odd-sized reads are assembled from the same bytes.
        Assert.Equal(all.AsSpan(0x01, 7).ToArray(), c.Read(Config, 0x01, 7));
        Assert.Equal(all.AsSpan(0x3D, 3).ToArray(), c.Read(Config, 0x3D, 3));
    }

    [Fact]
    public void EduConfigSpaceIs256BytesOfTheCoreModel()
    {
        var device = new EduDevice();
        using var h = new ServerHarness(device);
        using var c = h.ConnectNegotiated();
        byte[] all = c.Read(Config, 0, 256);
        for (int o = 0; o < 256; o += 4)
            Assert.Equal(device.ConfigRead(o, 4), BinaryPrimitives.ReadUInt32LittleEndian(all.AsSpan(o)));
        Assert.Equal(0x11e81234u, BinaryPrimitives.ReadUInt32LittleEndian(all));
        Assert.Equal(0x01, all[0x3D]); // interrupt pin INTA
    }

    [Fact]
    public void BarSizingProbesThroughRegion7ReturnTheSizeMaskWithTypeBits()
    {
        using var h = new ServerHarness(new SampleDevice());
        using var c = h.ConnectNegotiated();
        for (ulong bar = 0x10; bar <= 0x24; bar += 4) c.Write32(Config, bar, 0xFFFFFFFF);
        c.Write32(Config, 0x30, 0xFFFFF800); // ROM, enable bit clear
        Assert.Equal(0xFFFFE000u, c.Read32(Config, 0x10)); // BAR0: 8 KiB, 32-bit memory
        Assert.Equal(0xFFFFFFF1u, c.Read32(Config, 0x14)); // BAR1: 16 bytes of I/O
        Assert.Equal(0xFFF0000Cu, c.Read32(Config, 0x18)); // BAR2: 1 MiB, 64-bit, prefetchable
        Assert.Equal(0xFFFFFFFFu, c.Read32(Config, 0x1C)); // BAR3: upper half of BAR2
        Assert.Equal(0u, c.Read32(Config, 0x20));          // unimplemented
        Assert.Equal(0xFFFFF800u, c.Read32(Config, 0x30)); // ROM: 2 KiB

        using var e = new ServerHarness(new EduDevice());
        using var ec = e.ConnectNegotiated();
        ec.Write32(Config, 0x10, 0xFFFFFFFF);
        Assert.Equal(0xFFF00000u, ec.Read32(Config, 0x10)); // 1 MiB, 32-bit, non-prefetchable
    }

    [Fact]
    public void ReadOnlyConfigBytesIgnoreWrites()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.Write32(Config, 0x00, 0xDEADBEEF);
        c.Write16(Config, 0x04, 0xFFFF);
        Assert.Equal(0x11e81234u, c.Read32(Config, 0x00));
        Assert.Equal(0x0546, c.Read16(Config, 0x04)); // only edu's writable bits: Memory, Bus Master, Parity, SERR, INTx Disable
    }

    [Fact]
    public void EduRegistersHaveTheirSideEffects()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        Assert.Equal(0x010000EDu, c.Read32(0, 0x00));
        c.Write32(0, 0x04, 0x12345678);
        Assert.Equal(0xEDCBA987u, c.Read32(0, 0x04)); // liveness reads the inverse

        c.Write32(0, 0x08, 5); // factorial runs in the background; status bit 0 while computing
        Eventually.True(() => (c.Read32(0, 0x20) & 1) == 0, "the factorial to finish");
        Assert.Equal(120u, c.Read32(0, 0x08));

        c.Write64(0, 0x80, 0x0123_4567_89AB_CDEF);
        Assert.Equal(0x0123_4567_89AB_CDEFul, c.Read64(0, 0x80));
    }

    [Fact]
    public void BarReadsWhileMemorySpaceIsOffReadAllOnes()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        Assert.Equal(0xFFFFFFFFu, c.Read32(0, 0x00)); // a disabled BAR answers like hardware: all-ones, no error
        c.EnableMemoryAndBusMaster();
        Assert.Equal(0x010000EDu, c.Read32(0, 0x00));
    }

    [Fact]
    public void APostedWriteGetsNoReplyAndTakesEffectBeforeTheNextRead()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        for (uint i = 0; i < 50; i++)
        {
            ushort posted = c.NextId();
            c.SendRaw(RawClient.Frame(posted, Cmd.RegionWrite, RawClient.AccessPayload(0, 0x04, 4, BitConverter.GetBytes(i)), flags: 0x10));
            // The very next message on the wire is the read's reply, and it sees the posted write.
            ushort read = c.Send(Cmd.RegionRead, RawClient.AccessPayload(0, 0x04, 4));
            using var reply = c.Receive();
            Assert.Equal(read, reply.Id);
            Assert.Equal(Cmd.RegionRead, reply.Command);
            Assert.Equal(~i, reply.U32(16));
        }
        Assert.True(c.StaysQuiet(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public void AFailedPostedWriteSendsNoErrorReplyEither()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.SendRaw(RawClient.Frame(c.NextId(), Cmd.RegionWrite, RawClient.AccessPayload(9, 0, 4, [1, 2, 3, 4]), flags: 0x10));
        Assert.True(c.StaysQuiet(TimeSpan.FromMilliseconds(200)));
        Assert.Equal(0x11e81234u, c.Read32(Config, 0));
    }

    [Theory]
    [InlineData(0u, 0x100000ul, 4u)]      // at the end of BAR0
    [InlineData(0u, 0xFFFFCul, 8u)]       // crosses the end of BAR0
    [InlineData(0u, 0xFFFFFFFFFFFFFFFCul, 8u)] // offset + count overflows
    [InlineData(0u, 0ul, 0u)]             // count 0
    [InlineData(1u, 0ul, 4u)]             // BAR1 not implemented (size 0)
    [InlineData(6u, 0ul, 4u)]             // no ROM
    [InlineData(7u, 0xFEul, 4u)]          // past the 256-byte config space
    [InlineData(7u, 0x100ul, 4u)]
    [InlineData(8u, 0ul, 4u)]             // VGA: size 0
    [InlineData(9u, 0ul, 4u)]             // no region 9
    public void OutOfRangeAccessesAreEinval(uint region, ulong offset, uint count)
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        c.CallExpectError(Cmd.RegionRead, RawClient.AccessPayload(region, offset, count), Errno.EINVAL);
        c.CallExpectError(Cmd.RegionWrite, RawClient.AccessPayload(region, offset, count, new byte[count]), Errno.EINVAL);
        c.Write32(0, 0x04, 1);
        Assert.Equal(0xFFFFFFFEu, c.Read32(0, 0x04)); // still serving
    }

    [Fact]
    public void ACountAboveMaxDataXferSizeIsE2big()
    {
        using var h = new ServerHarness(new EduDevice(), new() { MaxDataTransferSize = 4096 });
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        c.CallExpectError(Cmd.RegionRead, RawClient.AccessPayload(0, 0, 4097), Errno.E2BIG);
        c.CallExpectError(Cmd.RegionWrite, RawClient.AccessPayload(0, 0x1000, 4097, new byte[4097]), Errno.E2BIG);
        Assert.Equal(4096, c.Read(0, 0, 4096).Length); // exactly the limit is fine
    }

    [Fact]
    public void LyingSizesAreEinval()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        c.Write32(0, 0x04, 0);
        // REGION_WRITE whose count is larger, then smaller, than the data that follows.
        c.CallExpectError(Cmd.RegionWrite, RawClient.AccessPayload(0, 0x04, 8, [1, 2, 3, 4]), Errno.EINVAL);
        c.CallExpectError(Cmd.RegionWrite, RawClient.AccessPayload(0, 0x04, 4, [1, 2, 3, 4, 5, 6, 7, 8]), Errno.EINVAL);
        // A write shorter than its fixed part, a read with trailing bytes, a read cut short.
        c.CallExpectError(Cmd.RegionWrite, RawClient.AccessPayload(0, 0x04, 4).AsSpan(0, 12), Errno.EINVAL);
        c.CallExpectError(Cmd.RegionRead, RawClient.AccessPayload(0, 0x04, 4, [0, 0, 0, 0]), Errno.EINVAL);
        c.CallExpectError(Cmd.RegionRead, RawClient.AccessPayload(0, 0x04, 4).AsSpan(0, 12), Errno.EINVAL);
        Assert.Equal(0xFFFFFFFFu, c.Read32(0, 0x04)); // none of the refused writes reached the device
    }
}
