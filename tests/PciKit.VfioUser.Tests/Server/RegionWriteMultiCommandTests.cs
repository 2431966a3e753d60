using System.Buffers.Binary;
using PciKit.Devices.Edu;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>REGION_WRITE_MULTI (15): u64 n, then n × {u64 offset, u32 region, u32 count, u8 data[8]}; reply u64 n.</summary>
public sealed class RegionWriteMultiCommandTests
{
    private static byte[] Request(params (ulong Offset, uint Region, byte[] Data)[] entries) => RequestWithCount((ulong)entries.Length, entries);

    private static byte[] RequestWithCount(ulong n, params (ulong Offset, uint Region, byte[] Data)[] entries)
    {
        var p = new byte[8 + (24 * entries.Length)];
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(0), n);
        for (int i = 0; i < entries.Length; i++)
        {
            var e = p.AsSpan(8 + (24 * i), 24);
            BinaryPrimitives.WriteUInt64LittleEndian(e[0..], entries[i].Offset);
            BinaryPrimitives.WriteUInt32LittleEndian(e[8..], entries[i].Region);
            BinaryPrimitives.WriteUInt32LittleEndian(e[12..], (uint)entries[i].Data.Length);
            entries[i].Data.AsSpan(0, Math.Min(8, entries[i].Data.Length)).CopyTo(e[16..]);
        }
        return p;
    }

    private static byte[] Le32(uint v) => BitConverter.GetBytes(v);
    private static byte[] Le64(ulong v) => BitConverter.GetBytes(v);

    [Fact]
    public void SeveralEntriesAcrossConfigAndBarAreAppliedInOrder()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        using var reply = c.CallOk(Cmd.RegionWriteMulti, Request(
            (0x04, 7, [0x06, 0x00]),                  // command: Memory + Bus Master (so the BAR writes that follow decode)
            (0x04, 0, Le32(0x0000FFFF)),              // liveness
            (0x80, 0, Le64(0x1122334455667788)),      // DMA source, 8 bytes
            (0x90, 0, Le32(0x100)),                   // DMA count, 4 bytes
            (0x04, 0, Le32(0x0F0F0F0F))));            // liveness again: the last write wins
        Assert.Equal(8, reply.Payload.Length);
        Assert.Equal(5ul, reply.U64(0));
        Assert.Equal(0xF0F0F0F0u, c.Read32(0, 0x04));
        Assert.Equal(0x1122334455667788ul, c.Read64(0, 0x80));
        Assert.Equal(0x100ul, c.Read64(0, 0x90));
    }

    [Fact]
    public void MalformedRequestsAreEinvalAndApplyNothing()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        c.Write32(0, 0x04, 0);
        var liveness = (0x04ul, 0u, Le32(0xAAAA5555));

        c.CallExpectError(Cmd.RegionWriteMulti, RequestWithCount(0), Errno.EINVAL);                       // n = 0
        c.CallExpectError(Cmd.RegionWriteMulti, RequestWithCount(2, liveness), Errno.EINVAL);             // n says 2, one entry follows
        c.CallExpectError(Cmd.RegionWriteMulti, RequestWithCount(1, liveness, liveness), Errno.EINVAL);   // n says 1, two follow
        c.CallExpectError(Cmd.RegionWriteMulti, RequestWithCount(201, Enumerable.Repeat(liveness, 201).ToArray()), Errno.EINVAL); // over 200
        c.CallExpectError(Cmd.RegionWriteMulti, new byte[4], Errno.EINVAL);                               // shorter than n
        var tooLong = Request(liveness);
        BinaryPrimitives.WriteUInt32LittleEndian(tooLong.AsSpan(8 + 12), 9);                              // count 9 > 8
        c.CallExpectError(Cmd.RegionWriteMulti, tooLong, Errno.EINVAL);
        // A valid first entry followed by a bad region or an out-of-range offset: the whole request is refused.
        c.CallExpectError(Cmd.RegionWriteMulti, Request(liveness, (0, 9, Le32(1))), Errno.EINVAL);
        c.CallExpectError(Cmd.RegionWriteMulti, Request(liveness, (0x100000, 0, Le32(1))), Errno.EINVAL);
        c.CallExpectError(Cmd.RegionWriteMulti, Request(liveness, (0, 0, [])), Errno.EINVAL);            // count 0

        Assert.Equal(0xFFFFFFFFu, c.Read32(0, 0x04)); // liveness still holds ~0
    }

    [Fact]
    public void TwoHundredEntriesAreAccepted()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        var entries = Enumerable.Range(0, 200).Select(i => (0x04ul, 0u, Le32((uint)i))).ToArray();
        using var reply = c.CallOk(Cmd.RegionWriteMulti, Request(entries));
        Assert.Equal(200ul, reply.U64(0));
        Assert.Equal(~199u, c.Read32(0, 0x04));
    }
}
