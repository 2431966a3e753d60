using System.Buffers.Binary;
using PciKit.Config;
using PciKit.Device;
using PciKit.Memory;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>
/// A device that does DMA inside its register handler (on the thread serving the client, like a doorbell): the data
/// of a DMA_READ reply is then received straight into the device's buffer. These tests pin that the bytes land
/// exactly, whatever way the client's reply is cut into writes, and that a reply that does not match (wrong size,
/// wrong address, an error) fails the DMA and leaves the device's buffer and the connection intact.
/// </summary>
public sealed class DirectDmaReplyTests
{
    private static string Json(int maxDataXfer) =>
        $"{{\"capabilities\":{{\"max_msg_fds\":16,\"max_data_xfer_size\":{maxDataXfer},\"pgsizes\":4096}}}}";

    private const ulong Base = 0x1000_0000;

    [Theory]
    [InlineData(4096, 1)]        // one small reply, read ahead with its header
    [InlineData(262144, 1)]      // 256 KiB reply in one message: most of it received in place
    [InlineData(65536, 4)]       // 4 chunks of 64 KiB
    public void DmaReadRepliesLandByteExactInTheDeviceBuffer(int length, int chunks)
    {
        var device = new SyncDmaDevice();
        using var h = new ServerHarness(device);
        using var c = h.ConnectNegotiated(Json(length / chunks));
        c.EnableMemoryAndBusMaster();
        var memory = Edu.Pattern(length + 0x1000, 21);
        c.DmaMemory = memory;
        c.DmaBase = Base;
        c.MapDma(Base, (ulong)memory.Length);

        device.Go(c, Base + 0x10, length);

        Assert.Equal(0u, c.Read32(0, SyncDmaDevice.RegStatus));
        Assert.Equal(chunks, c.DmaRequests.Count);
        Assert.Equal(memory.AsSpan(0x10, length).ToArray(), device.Buffer.AsSpan(0, length).ToArray());
    }

    [Fact]
    public void AReplySentInSmallPiecesWithPausesIsAssembledInPlace()
    {
        var device = new SyncDmaDevice();
        using var h = new ServerHarness(device);
        using var c = h.ConnectNegotiated(Json(1 << 20));
        c.EnableMemoryAndBusMaster();
        c.MapDma(Base, 0x100000);
        const int length = 100_000;
        var data = Edu.Pattern(length, 22);

        SyncDmaDevice.Arm(c, Base, length);
        ushort id = c.Send(Cmd.RegionWrite, RawClient.AccessPayload(0, SyncDmaDevice.RegGo, 4, U32(1)));
        using (var request = c.Receive())
        {
            Assert.Equal(Cmd.DmaRead, request.Command);
            var reply = RawClient.Frame(request.Id, Cmd.DmaRead, ReplyPayload(Base, data), flags: 1);
            // 20 bytes (header + a bit of the prefix), then the rest of the prefix + 1 byte, then odd-sized pieces.
            int[] cuts = [20, 13, 7, 4093, 50_000, reply.Length];
            int at = 0;
            foreach (int cut in cuts)
            {
                int end = Math.Min(cut == reply.Length ? cut : at + cut, reply.Length);
                c.SendRaw(reply.AsSpan(at, end - at));
                at = end;
                Thread.Sleep(5);
            }
        }
        using (c.ReadReply(id, Cmd.RegionWrite)) { }

        Assert.Equal(0u, c.Read32(0, SyncDmaDevice.RegStatus));
        Assert.Equal(data, device.Buffer.AsSpan(0, length).ToArray());
    }

    [Theory]
    [InlineData("short")]    // count says 4096, data is 4095 bytes: a reply of another size takes the usual path
    [InlineData("long")]     // one byte too many
    [InlineData("address")]  // right size, wrong address
    [InlineData("error")]    // an error reply
    public void AReplyThatDoesNotMatchFailsTheDmaAndTheConnectionKeepsServing(string how)
    {
        var device = new SyncDmaDevice();
        device.Buffer.AsSpan().Fill(0x5A);
        using var h = new ServerHarness(device);
        using var c = h.ConnectNegotiated(Json(1 << 20));
        c.EnableMemoryAndBusMaster();
        c.MapDma(Base, 0x10000);
        const int length = 4096;

        SyncDmaDevice.Arm(c, Base, length);
        ushort id = c.Send(Cmd.RegionWrite, RawClient.AccessPayload(0, SyncDmaDevice.RegGo, 4, U32(1)));
        using (var request = c.Receive())
        {
            Assert.Equal(Cmd.DmaRead, request.Command);
            byte[] reply = how switch
            {
                "short" => RawClient.Frame(request.Id, Cmd.DmaRead, WithCount(ReplyPayload(Base, new byte[length - 1]), length), flags: 1),
                "long" => RawClient.Frame(request.Id, Cmd.DmaRead, WithCount(ReplyPayload(Base, new byte[length + 1]), length), flags: 1),
                "address" => RawClient.Frame(request.Id, Cmd.DmaRead, ReplyPayload(Base + 0x1000, new byte[length]), flags: 1),
                _ => ErrorReply(request.Id),
            };
            c.SendRaw(reply);
        }
        using (c.ReadReply(id, Cmd.RegionWrite)) { }

        Assert.Equal(1u, c.Read32(0, SyncDmaDevice.RegStatus)); // the DMA failed
        Assert.All(device.Buffer, b => Assert.Equal(0x5A, b)); // nothing was written into the device's buffer
        // The connection is in step: a correct DMA right after works.
        c.DmaMemory = Edu.Pattern(0x10000, 23);
        c.DmaBase = Base;
        device.Go(c, Base, length);
        Assert.Equal(0u, c.Read32(0, SyncDmaDevice.RegStatus));
        Assert.Equal(c.DmaMemory.AsSpan(0, length).ToArray(), device.Buffer.AsSpan(0, length).ToArray());
    }

    private static byte[] U32(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return b;
    }

    private static byte[] ReplyPayload(ulong address, ReadOnlySpan<byte> data)
    {
        var payload = new byte[16 + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(payload, address);
        BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(8), (ulong)data.Length);
        data.CopyTo(payload.AsSpan(16));
        return payload;
    }

    private static byte[] WithCount(byte[] payload, ulong count)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(8), count);
        return payload;
    }

    private static byte[] ErrorReply(ushort id)
    {
        var bytes = RawClient.Frame(id, Cmd.DmaRead, [], flags: 0x21);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), 14);
        return bytes;
    }

    /// <summary>
    /// BAR0 registers: 0x00 DMA address (8), 0x08 length, 0x0C go (WO: bits 31..1 ignored, the write itself does the
    /// read of length bytes into <see cref="Buffer"/>, synchronously), 0x10 status (0 ok, 1 failed).
    /// </summary>
    private sealed class SyncDmaDevice : PciDevice
    {
        public const ulong RegAddress = 0x00, RegLength = 0x08, RegGo = 0x0C, RegStatus = 0x10;
        private ulong _address;
        private uint _length, _status;

        public SyncDmaDevice()
            : base(new PciIdentity { VendorId = 0x1b36, DeviceId = 0x00fe, ClassCode = 0xff0000 })
        {
            DefineBar(0, PciBar.Memory32(0x1000).Add(0, new RegisterRegion("regs", 0x100, ReadRegister, WriteRegister, AccessSizes.Dword)));
            Realize();
        }

        public byte[] Buffer { get; } = new byte[1 << 20];

        public static void Arm(RawClient c, ulong address, int length)
        {
            c.Write32(0, RegAddress, (uint)address);
            c.Write32(0, RegAddress + 4, (uint)(address >> 32));
            c.Write32(0, RegLength, (uint)length);
        }

        public void Go(RawClient c, ulong address, int length)
        {
            Arm(c, address, length);
            c.Write32(0, RegGo, 1);
        }

        private ulong ReadRegister(ulong offset, int size) => offset switch
        {
            RegStatus => _status,
            RegLength => _length,
            _ => 0,
        };

        private void WriteRegister(ulong offset, int size, ulong value)
        {
            switch (offset)
            {
                case RegAddress: _address = (_address & ~0xFFFF_FFFFUL) | (uint)value; break;
                case RegAddress + 4: _address = (_address & 0xFFFF_FFFFUL) | (value << 32); break;
                case RegLength: _length = (uint)Math.Min(value, (ulong)Buffer.Length); break;
                case RegGo: _status = Dma.Read(_address, Buffer.AsSpan(0, (int)_length)) == DmaStatus.Ok ? 0u : 1u; break;
            }
        }
    }
}
