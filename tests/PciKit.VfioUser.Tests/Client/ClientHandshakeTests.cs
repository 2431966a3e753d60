using PciKit.VfioUser.Client;
using PciKit.VfioUser.Protocol;
using static PciKit.VfioUser.Tests.Bytes;

namespace PciKit.VfioUser.Tests.Client;

public sealed class ClientHandshakeTests
{
    [Fact]
    public void Sends_version_get_info_region_info_with_retry_and_irq_info_byte_for_byte()
    {
        var (client, server, sent) = ClientTestSupport.Connect();
        using var _ = client;
        using var __ = server;

        // VERSION 0.0 with QEMU's capabilities (write_multiple off).
        Assert.Equal(Concat(Hex("0100 0100"), BitConverter.GetBytes(16 + FakeServer.ClientVersionPayload.Length), Hex("00000000 00000000"), FakeServer.ClientVersionPayload), sent[0]);
        Assert.Equal(Hex("0200 0400 20000000 00000000 00000000  10000000 00000000 00000000 00000000"), sent[1]);
        // Region 0: argsz 32, then again with the 64 bytes the reply asked for.
        Assert.Equal(Hex("0300 0500 30000000 00000000 00000000  20000000 00000000 00000000 00000000 0000000000000000 0000000000000000"), sent[2]);
        Assert.Equal(Hex("0400 0500 30000000 00000000 00000000  40000000 00000000 00000000 00000000 0000000000000000 0000000000000000"), sent[3]);
        Assert.Equal(Hex("0500 0500 30000000 00000000 00000000  20000000 00000000 01000000 00000000 0000000000000000 0000000000000000"), sent[4]);
        Assert.Equal(Hex("0b00 0500 30000000 00000000 00000000  20000000 00000000 07000000 00000000 0000000000000000 0000000000000000"), sent[10]);
        Assert.Equal(Hex("0c00 0500 30000000 00000000 00000000  20000000 00000000 08000000 00000000 0000000000000000 0000000000000000"), sent[11]);
        Assert.Equal(Hex("0d00 0700 20000000 00000000 00000000  10000000 00000000 00000000 00000000"), sent[12]);
        Assert.Equal(Hex("1100 0700 20000000 00000000 00000000  10000000 00000000 04000000 00000000"), sent[16]);
        Assert.Equal(17, sent.Count);

        Assert.Equal(256, client.ConfigSpaceSize);
        Assert.Equal(FakeServer.Bar0Size, client.GetBarSize(0));
        Assert.Equal(0UL, client.GetBarSize(1));
        Assert.Equal(0UL, client.GetBarSize(6));
        Assert.Equal(4, client.GetIrqCount(2));
        Assert.True(client.SupportsReset);
    }

    [Fact]
    public void Refuses_a_server_that_is_not_a_pci_device()
    {
        var (server, end) = FakeServer.Create();
        using var _ = server;
        var script = server.Run(s =>
        {
            using var v = s.Expect(VfioUserCommand.Version);
            var b = new byte[128];
            s.Reply(v, b.AsSpan(0, new VfioUserVersion(0, 0, new VfioUserCapabilities()).Write(b)));
            using var info = s.Expect(VfioUserCommand.DeviceGetInfo);
            s.Reply(info, Hex("10000000 01000000 09000000 05000000"));
            Assert.True(s.ReceiveClosed());
        });
        var e = Assert.Throws<VfioUserException>(() => VfioUserClient.Connect(end));
        Assert.Contains("PCI", e.Message);
        Assert.Equal((int)VfioUserCommand.DeviceGetInfo, e.Command);
        ClientTestSupport.Finish(script);
    }

    [Fact]
    public void Refuses_a_higher_minor_version()
    {
        var (server, end) = FakeServer.Create();
        using var _ = server;
        var script = server.Run(s =>
        {
            using var v = s.Expect(VfioUserCommand.Version);
            var b = new byte[128];
            s.Reply(v, b.AsSpan(0, new VfioUserVersion(0, 1, new VfioUserCapabilities()).Write(b)));
        });
        var e = Assert.Throws<VfioUserException>(() => VfioUserClient.Connect(end));
        Assert.Equal("VERSION", e.CommandName);
        ClientTestSupport.Finish(script);
    }

    [Fact]
    public void Version_error_reply_carries_errno_and_command()
    {
        var (server, end) = FakeServer.Create();
        using var _ = server;
        var script = server.Run(s =>
        {
            using var v = s.Expect(VfioUserCommand.Version);
            s.ReplyError(v, LinuxErrno.ENOTSUP);
        });
        var e = Assert.Throws<VfioUserException>(() => VfioUserClient.Connect(end));
        Assert.Equal(LinuxErrno.ENOTSUP, e.Errno);
        Assert.Equal((int)VfioUserCommand.Version, e.Command);
        ClientTestSupport.Finish(script);
    }

    [Fact]
    public void Connecting_to_a_missing_socket_throws_a_linux_exception()
    {
        Assert.Throws<PciKit.Linux.LinuxException>(() => VfioUserClient.Connect(Path.Combine(Path.GetTempPath(), "no-such-vfio-user.sock")));
    }
}
