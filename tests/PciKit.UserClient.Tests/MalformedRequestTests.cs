using PciKit.Testing;
using PciKit.Device;
using PciKit.Linux;
using PciKit.UserClient.Protocol;

namespace PciKit.UserClient.Tests;

/// <summary>Bad input from a client gets an error reply; the service keeps serving that client (when framing allows) and every other.</summary>
public sealed class MalformedRequestTests : IDisposable
{
    private readonly ListLog _log = new();
    private readonly DriverFixture _driver;

    public MalformedRequestTests() => _driver = new DriverFixture(new UserClientServiceOptions { Log = _log, MaxClients = 3 });

    public void Dispose() => _driver.Dispose();

    [Theory]
    [InlineData(2, UserClientWire.MapMemoryCommand, 0u, UserClientStatus.UnsupportedVersion, "protocol version 2 is not supported")]
    [InlineData(1, 9, 0u, UserClientStatus.UnknownCommand, "command 9 is unknown")]
    [InlineData(1, UserClientWire.MapMemoryCommand, 2u, UserClientStatus.Malformed, "flags 0x2 set reserved bits")]
    public void A_bad_field_gets_its_error_and_the_connection_keeps_serving(ushort version, ushort command, uint flags, UserClientStatus status, string message)
    {
        using var client = RawClient.Connect(_driver.SocketPath);

        var (reply, text, fds) = client.Exchange(RawClient.Request(version: version, command: command, flags: flags));
        Assert.Equal((status, 0), (reply.Status, fds));
        Assert.Contains(message, text);

        var (ok, _, granted) = client.Exchange(RawClient.Request());
        Assert.Equal((UserClientStatus.Ok, 1, DriverFixture.Size), (ok.Status, granted, ok.Length));
        Assert.Contains(_log.Lines, l => l.Contains(message, StringComparison.Ordinal));
    }

    [Fact]
    public void A_type_beyond_int_range_is_unknown()
    {
        using var client = RawClient.Connect(_driver.SocketPath);
        var (reply, text, _) = client.Exchange(RawClient.Request(type: uint.MaxValue));
        Assert.Equal(UserClientStatus.UnknownType, reply.Status);
        Assert.Contains("type 4294967295", text);
    }

    [Fact]
    public void Bad_magic_gets_an_error_then_the_connection_is_closed_and_others_are_served()
    {
        using var client = RawClient.Connect(_driver.SocketPath);

        var (reply, text, _) = client.Exchange(RawClient.Request(magic: 0x1234_5678));
        Assert.Equal(UserClientStatus.Malformed, reply.Status);
        Assert.Contains("bad magic 0x12345678", text);
        Assert.True(client.WasClosedByPeer());

        using var app = UserClientConnection.Connect(_driver.SocketPath);
        using var memory = app.MapMemory(0);
        Assert.Equal(DriverFixture.Size, memory.Length);
    }

    [Fact]
    public void A_client_that_leaves_mid_request_ends_only_its_own_connection()
    {
        using (var client = RawClient.Connect(_driver.SocketPath))
        {
            client.Socket.SendAll(RawClient.Request().AsSpan(0, 7));
        }
        Assert.True(SpinWait.SpinUntil(() => _driver.Service.ClientCount == 0, TimeSpan.FromSeconds(30)));

        using var app = UserClientConnection.Connect(_driver.SocketPath);
        using var memory = app.MapMemory(0);
        Assert.Equal(0, _driver.Service.Refused);
    }

    [Fact]
    public void A_request_split_across_writes_is_answered()
    {
        using var client = RawClient.Connect(_driver.SocketPath);
        var request = RawClient.Request();
        client.Socket.SendAll(request.AsSpan(0, 3));
        Thread.Sleep(20);
        var (reply, _, fds) = client.Exchange(request[3..]);
        Assert.Equal((UserClientStatus.Ok, 1), (reply.Status, fds));
    }

    [Fact]
    public void Descriptors_a_client_sends_are_closed_and_the_request_is_still_answered()
    {
        using var client = RawClient.Connect(_driver.SocketPath);
        using var junk = SharedMemory.CreateMemFd("pk-junk", 4096);

        var (reply, _, fds) = client.Exchange(RawClient.Request(), [junk, junk]);

        Assert.Equal((UserClientStatus.Ok, 1), (reply.Status, fds));
        Assert.Contains(_log.Lines, l => l.Contains("sent 2 descriptor(s); closed them", StringComparison.Ordinal));
        Assert.Equal(1, OpenDescriptorsOf("pk-junk")); // only the test's own
    }

    [Fact]
    public void One_client_too_many_is_told_the_service_is_busy()
    {
        using var a = RawClient.Connect(_driver.SocketPath);
        using var b = RawClient.Connect(_driver.SocketPath);
        using var c = RawClient.Connect(_driver.SocketPath);
        Assert.True(SpinWait.SpinUntil(() => _driver.Service.ClientCount == 3, TimeSpan.FromSeconds(30)));

        using var d = UserClientConnection.Connect(_driver.SocketPath);
        var e = Assert.Throws<UserClientException>(() => d.MapMemory(0));
        Assert.Equal(UserClientStatus.Busy, e.Status);
        Assert.Contains("already serves 3 clients", e.Message);

        a.Dispose();
        Assert.True(SpinWait.SpinUntil(() => _driver.Service.ClientCount == 2, TimeSpan.FromSeconds(30)));
        using var again = UserClientConnection.Connect(_driver.SocketPath);
        using var memory = again.MapMemory(0);
    }

    private static int OpenDescriptorsOf(string memfdName) =>
        FdSnapshot.Take().Values.Count(target => target.StartsWith("/memfd:" + memfdName, StringComparison.Ordinal));
}
