using System.Buffers.Binary;
using PciKit.Driver;
using PciKit.VfioUser.Client;
using PciKit.VfioUser.Protocol;
using static PciKit.VfioUser.Tests.Bytes;

namespace PciKit.VfioUser.Tests.Client;

public sealed class ClientRegionTests
{
    [Fact]
    public void Config_read_and_write_are_region_7_accesses_correlated_by_message_id()
    {
        var (client, server, _) = ClientTestSupport.Connect();
        using var _c = client;
        using var _s = server;
        server.Config[0] = 0x34; server.Config[1] = 0x12; server.Config[2] = 0xe8; server.Config[3] = 0x11;
        byte[]? read = null, write = null;
        var script = server.Run(s =>
        {
            using var r = s.Expect(VfioUserCommand.RegionRead);
            read = r.Raw;
            s.ServeConfigRead(r);
            using var w = s.Expect(VfioUserCommand.RegionWrite);
            write = w.Raw;
            s.ReplyOk(w);
        });
        Assert.Equal(0x11e81234u, client.ConfigRead(0, 4));
        client.ConfigWrite(4, 2, 0x0406);
        ClientTestSupport.Finish(script);
        Assert.Equal(Hex("1200 0900 20000000 00000000 00000000  0000000000000000 07000000 04000000"), read);
        Assert.Equal(Hex("1300 0a00 22000000 00000000 00000000  0400000000000000 07000000 02000000 0604"), write);
    }

    [Fact]
    public void Bar_read_of_8_bytes_and_a_reply_that_does_not_echo_the_request_is_a_protocol_error()
    {
        var (client, server, _) = ClientTestSupport.Connect();
        using var _c = client;
        using var _s = server;
        var script = server.Run(s =>
        {
            using var r = s.Expect(VfioUserCommand.RegionRead);
            Assert.Equal(Hex("1000000000000000 00000000 08000000"), r.Payload);
            s.Reply(r, Concat(r.Payload, Hex("0102030405060708")));
            using var bad = s.Expect(VfioUserCommand.RegionRead);
            s.Reply(bad, Concat(Hex("1000000000000000 00000000 04000000"), Hex("01020304")));
        });
        Assert.Equal(0x0807060504030201UL, client.BarRead(0, 0x10, 8));
        var e = Assert.Throws<VfioUserException>(() => client.BarRead(0, 0x10, 2));
        Assert.Equal("REGION_READ", e.CommandName);
        ClientTestSupport.Finish(script);
    }

    [Fact]
    public void Error_reply_throws_with_errno_and_the_connection_stays_usable()
    {
        var (client, server, _) = ClientTestSupport.Connect();
        using var _c = client;
        using var _s = server;
        var script = server.Run(s =>
        {
            using var r = s.Expect(VfioUserCommand.RegionWrite);
            s.ReplyError(r, LinuxErrno.EINVAL);
            using var r2 = s.Expect(VfioUserCommand.RegionRead);
            s.ServeConfigRead(r2);
        });
        var e = Assert.Throws<VfioUserException>(() => client.BarWrite(0, 0x3000, 4, 1));
        Assert.Equal(LinuxErrno.EINVAL, e.Errno);
        Assert.Equal((int)VfioUserCommand.RegionWrite, e.Command);
        Assert.IsAssignableFrom<PciException>(e);
        Assert.Equal(0u, client.ConfigRead(0, 4));
        ClientTestSupport.Finish(script);
    }

    [Fact]
    public void A_disconnect_in_the_middle_of_a_reply_is_reported_and_later_calls_fail_fast()
    {
        var (client, server, _) = ClientTestSupport.Connect();
        using var _c = client;
        using var _s = server;
        var script = server.Run(s =>
        {
            using var r = s.Expect(VfioUserCommand.RegionRead);
            var header = new byte[16];
            VfioUserHeader.ForReply(r.Header, 20).Write(header);
            s.SendRaw(Concat(header, Hex("00000000 0000")));   // 6 of 20 payload bytes, then hang up
            s.HangUp();
        });
        var e = Assert.Throws<VfioUserDisconnectedException>(() => client.ConfigRead(0, 4));
        Assert.Equal("REGION_READ", e.CommandName);
        Assert.True(client.IsDisconnected);
        Assert.Throws<VfioUserDisconnectedException>(() => client.ConfigWrite(0, 4, 0));
        Assert.Throws<VfioUserDisconnectedException>(() => client.Open());
        ClientTestSupport.Finish(script);
    }

    [Fact]
    public void A_silent_server_times_out_and_its_late_reply_is_dropped()
    {
        var (client, server, _) = ClientTestSupport.Connect(new VfioUserClientOptions { Timeout = TimeSpan.FromSeconds(1) });
        using var _c = client;
        using var _s = server;
        server.Config[8] = 0x42;
        using var timedOut = new ManualResetEventSlim();
        var script = server.Run(s =>
        {
            using var first = s.Expect(VfioUserCommand.RegionRead);
            timedOut.Wait(ClientTestSupport.Timeout);
            s.ServeConfigRead(first);            // the late reply to the request that timed out
            using var second = s.Expect(VfioUserCommand.RegionRead);
            s.ServeConfigRead(second);
        });
        Assert.Throws<TimeoutException>(() => client.ConfigRead(8, 1));
        timedOut.Set();
        Thread.Sleep(50);
        Assert.Equal(0x42u, client.ConfigRead(8, 1));
        ClientTestSupport.Finish(script);
    }

    [Fact]
    public void Maps_a_sparse_area_through_the_region_fd_at_the_region_offset_and_refuses_the_rest()
    {
        var (client, server, _) = ClientTestSupport.Connect();
        using var _c = client;
        using var _s = server;
        Assert.Null(client.TryMapBar(0, 0, 0x1000, out string? reason));
        Assert.Contains("mmap-able areas", reason);
        Assert.Null(client.TryMapBar(7 - 1, 0, 0x10, out reason)); // ROM absent
        using var mapping = client.TryMapBar(0, 0x1010, 0x10, out reason);
        Assert.NotNull(mapping);
        mapping!.Write<uint>(0, 0xCAFEF00D);
        Assert.Equal(0xCAFEF00Du, server.Bar0.Read<uint>(FakeServer.Bar0FileOffset + 0x1010));
        server.Bar0.Write<uint>(FakeServer.Bar0FileOffset + 0x1014, 0x600DF00D);
        Assert.Equal(0x600DF00Du, mapping.Read<uint>(4));
        mapping.Dispose();
        Assert.Throws<ObjectDisposedException>(() => mapping.Read<uint>(0));
    }
}
