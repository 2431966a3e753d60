using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using PciKit.Devices.Edu;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>VERSION (1): the negotiation every connection starts with.</summary>
public sealed class VersionCommandTests
{
    [Fact]
    public void QemuVersionZeroZeroIsAcceptedAndTheReplyListsTheServersCapabilities()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.Connect();
        using var reply = c.CallOk(Cmd.Version, RawClient.VersionPayload(0, 0, RawClient.QemuVersionJson));

        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(reply.Payload.AsSpan(0))); // major
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(reply.Payload.AsSpan(2))); // minor
        Assert.Equal(0, reply.Payload[^1]); // NUL-terminated
        Assert.Equal(-1, Array.IndexOf(reply.Payload, (byte)0, 4, reply.Payload.Length - 5));
        using var json = JsonDocument.Parse(Encoding.UTF8.GetString(reply.Payload, 4, reply.Payload.Length - 5));
        var caps = json.RootElement.GetProperty("capabilities");
        Assert.Equal(16u, caps.GetProperty("max_msg_fds").GetUInt32());
        Assert.Equal(1048576ul, caps.GetProperty("max_data_xfer_size").GetUInt64());
        Assert.Equal(65535u, caps.GetProperty("max_dma_maps").GetUInt32());
        Assert.Equal(4096ul, caps.GetProperty("pgsizes").GetUInt64());
        Assert.True(caps.GetProperty("write_multiple").GetBoolean());
        Assert.False(caps.TryGetProperty("migration", out _)); // not offered: the server has no migration
        Assert.False(caps.TryGetProperty("twin_socket", out _));
    }

    [Fact]
    public void TheReplyAdvertisesTheConfiguredLimits()
    {
        using var h = new ServerHarness(new EduDevice(), new() { MaxMessageFds = 4, MaxDataTransferSize = 8192, MaxDmaMaps = 7 });
        using var c = h.Connect();
        using var reply = c.CallOk(Cmd.Version, RawClient.VersionPayload(0, 0, "{}"));
        using var json = JsonDocument.Parse(Encoding.UTF8.GetString(reply.Payload, 4, reply.Payload.Length - 5));
        var caps = json.RootElement.GetProperty("capabilities");
        Assert.Equal(4u, caps.GetProperty("max_msg_fds").GetUInt32());
        Assert.Equal(8192ul, caps.GetProperty("max_data_xfer_size").GetUInt64());
        Assert.Equal(7u, caps.GetProperty("max_dma_maps").GetUInt32());
    }

    [Fact]
    public void AHigherClientMinorIsAnsweredWithTheServersMinorZero()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.Connect();
        using var reply = c.CallOk(Cmd.Version, RawClient.VersionPayload(0, 7, RawClient.QemuVersionJson));
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(reply.Payload.AsSpan(0)));
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(reply.Payload.AsSpan(2)));
    }

    [Theory]
    [InlineData("{\"capabilities\":")]                       // truncated
    [InlineData("{\"capabilities\":{\"max_msg_fds\":\"x\"}}")] // wrong type
    [InlineData("[1,2]")]                                     // not an object
    public void MalformedJsonIsEinval(string json)
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.Connect();
        c.CallExpectError(Cmd.Version, RawClient.VersionPayload(0, 0, json), Errno.EINVAL);
        // Nothing was negotiated: the connection still answers VERSION.
        c.Negotiate();
    }

    [Fact]
    public void JsonWithoutItsNulTerminatorIsEinval()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.Connect();
        var payload = RawClient.VersionPayload(0, 0, "{}");
        c.CallExpectError(Cmd.Version, payload.AsSpan(0, payload.Length - 1), Errno.EINVAL);
    }

    [Fact]
    public void MajorOneIsEnotsup()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.Connect();
        c.CallExpectError(Cmd.Version, RawClient.VersionPayload(1, 0, RawClient.QemuVersionJson), Errno.ENOTSUP);
    }

    [Theory]
    [InlineData(Cmd.DeviceGetInfo)]
    [InlineData(Cmd.RegionRead)]
    [InlineData(Cmd.DmaMap)]
    public void ACommandBeforeVersionIsEinvalAndVersionStillWorksAfterwards(ushort command)
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.Connect();
        var payload = new byte[32];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, 32);
        c.CallExpectError(command, command == Cmd.RegionRead ? RawClient.AccessPayload(0, 0, 4) : payload, Errno.EINVAL);
        c.Negotiate();
        Assert.Equal(0x0000_0000u, c.Read32(7, 0x04) & 0xFFFF); // command register readable now
    }

    [Fact]
    public void ASecondVersionIsEinval()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.CallExpectError(Cmd.Version, RawClient.VersionPayload(0, 0, RawClient.QemuVersionJson), Errno.EINVAL);
        Assert.Equal(0x11e81234u, c.Read32(7, 0)); // still serving
    }
}
