using System.Buffers.Binary;
using PciKit.Linux;
using PciKit.VfioUser.Client;
using PciKit.VfioUser.Protocol;
using static PciKit.VfioUser.Tests.Bytes;

namespace PciKit.VfioUser.Tests.Client;

public sealed class ClientDmaTests
{
    [Fact]
    public void Message_mode_maps_without_fd_and_serves_dma_commands_that_arrive_before_the_reply()
    {
        var (client, server, _) = ClientTestSupport.Connect(new VfioUserClientOptions { DmaMode = DmaMode.Messages });
        using var _c = client;
        using var _s = server;
        byte[]? map = null, unmap = null, readReply = null, writeReply = null, faultReply = null, faultWrite = null;
        int mapFds = -1;
        var script = server.Run(s =>
        {
            using (var m = s.Expect(VfioUserCommand.DmaMap)) { map = m.Raw; mapFds = m.Fds.Length; s.ReplyOk(m); }

            using var r = s.Expect(VfioUserCommand.RegionRead);
            // Before replying, the "device" writes 4 bytes into the buffer and reads 8 back, then strays outside it.
            s.SendCommand(0x100, VfioUserCommand.DmaWrite, Hex("0400100000000000 0400000000000000 a1b2c3d4"));
            using (var w = s.Receive()) writeReply = w.Raw;
            s.SendCommand(0x101, VfioUserCommand.DmaRead, Hex("0000100000000000 0800000000000000"));
            using (var d = s.Receive()) readReply = d.Raw;
            s.SendCommand(0x102, VfioUserCommand.DmaRead, Hex("fc1f100000000000 0800000000000000"));
            using (var f = s.Receive()) faultReply = f.Raw;
            s.SendCommand(0x103, VfioUserCommand.DmaWrite, Hex("0000000000000000 0100000000000000 ff"));
            using (var f = s.Receive()) faultWrite = f.Raw;
            s.ServeConfigRead(r);

            using (var u = s.Expect(VfioUserCommand.DmaUnmap)) { unmap = u.Raw; s.ReplyOk(u); }
        });

        var buffer = client.AllocateDmaBuffer(0x1000, 32);
        Assert.Equal(0x10_0000UL, buffer.DeviceAddress);
        buffer.Span[..4].Fill(0xEE);
        Assert.Equal(0u, client.ConfigRead(0, 4));
        Assert.Equal(Hex("a1b2c3d4"), buffer.Span[4..8].ToArray());
        buffer.Dispose();
        ClientTestSupport.Finish(script);

        Assert.Equal(0, mapFds);
        Assert.Equal(Hex("1200 0200 30000000 00000000 00000000  20000000 03000000 0000000000000000 0000100000000000 0010000000000000"), map);
        Assert.Equal(Hex("0001 0c00 20000000 01000000 00000000  0400100000000000 0400000000000000"), writeReply);
        Assert.Equal(Hex("0101 0b00 28000000 01000000 00000000  0000100000000000 0800000000000000 eeeeeeeea1b2c3d4"), readReply);
        Assert.Equal(Hex("0201 0b00 10000000 21000000 0e000000"), faultReply); // EFAULT: 4 bytes past the end
        Assert.Equal(Hex("0301 0c00 10000000 21000000 0e000000"), faultWrite); // EFAULT: nothing mapped at 0
        Assert.Equal(Hex("1400 0300 28000000 00000000 00000000  18000000 00000000 0000100000000000 0010000000000000"), unmap);
        Assert.Equal(1, client.DmaReadsServed);
        Assert.Equal(1, client.DmaWritesServed);
    }

    [Fact]
    public void Shared_memory_mode_sends_the_memfd_and_the_server_sees_the_buffer()
    {
        var (client, server, _) = ClientTestSupport.Connect();
        using var _c = client;
        using var _s = server;
        byte[]? map = null;
        SafeFd? memfd = null;
        var script = server.Run(s =>
        {
            var m = s.Expect(VfioUserCommand.DmaMap);
            map = m.Raw;
            memfd = Assert.Single(m.Fds);
            s.ReplyOk(m);
            using var u = s.Expect(VfioUserCommand.DmaUnmap);
            s.ReplyOk(u);
        });
        var buffer = client.AllocateDmaBuffer(100, 28);
        buffer.Span.Fill(0x5A);
        SpinWait.SpinUntil(() => memfd is not null, ClientTestSupport.Timeout);
        using (var view = MemoryMapping.Map(memfd!, 0, 4096))
        {
            Assert.Equal(0x5A, view.Read<byte>(99));
            view.Write<byte>(0, 0x11);
        }
        Assert.Equal(0x11, buffer.Span[0]);
        Assert.Equal(4096UL, memfd!.GetSize());
        buffer.Dispose();
        memfd.Dispose();
        ClientTestSupport.Finish(script);
        Assert.Equal(Hex("1200 0200 30000000 00000000 00000000  20000000 03000000 0000000000000000 0000100000000000 0010000000000000"), map);
        Assert.Throws<ObjectDisposedException>(() => buffer.Span[0]);
    }

    [Fact]
    public void A_refused_dma_map_frees_the_buffer_and_its_iova()
    {
        var (client, server, _) = ClientTestSupport.Connect(new VfioUserClientOptions { DmaMode = DmaMode.Messages });
        using var _c = client;
        using var _s = server;
        var script = server.Run(s =>
        {
            using (var m = s.Expect(VfioUserCommand.DmaMap)) s.ReplyError(m, LinuxErrno.ENOSPC);
            using (var m = s.Expect(VfioUserCommand.DmaMap))
            {
                Assert.Equal(0x10_0000UL, BinaryPrimitives.ReadUInt64LittleEndian(m.Payload.AsSpan(16)));
                s.ReplyOk(m);
            }
        });
        var e = Assert.Throws<VfioUserException>(() => client.AllocateDmaBuffer(10, 32));
        Assert.Equal(LinuxErrno.ENOSPC, e.Errno);
        var buffer = client.AllocateDmaBuffer(10, 32);
        Assert.Equal(0x10_0000UL, buffer.DeviceAddress);
        ClientTestSupport.Finish(script);
    }

    [Fact]
    public void Iovas_stay_below_the_address_limit()
    {
        var (client, server, _) = ClientTestSupport.Connect(new VfioUserClientOptions { DmaMode = DmaMode.Messages });
        using var _c = client;
        using var _s = server;
        var script = server.Run(s => { using var m = s.Expect(VfioUserCommand.DmaMap); s.ReplyOk(m); });
        var first = client.AllocateDmaBuffer(0x10_0000, 21); // [1 MiB, 2 MiB) fits 21 bits exactly
        Assert.Equal(0x10_0000UL, first.DeviceAddress);
        Assert.Throws<InsufficientMemoryException>(() => client.AllocateDmaBuffer(1, 21));
        ClientTestSupport.Finish(script);
    }
}
