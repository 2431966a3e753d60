using System.Buffers.Binary;
using PciKit.Devices.Edu;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>DEVICE_FEATURE (16), migration and dirty-page commands, unknown commands, and server-only commands sent by a client.</summary>
public sealed class UnsupportedCommandTests
{
    private static byte[] Feature(uint argsz, uint flags, int length = 8)
    {
        var p = new byte[length];
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(0), argsz);
        if (length >= 8) BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(4), flags);
        return p;
    }

    private const uint Get = 1u << 16, Set = 1u << 17, Probe = 1u << 18;

    [Theory]
    [InlineData(Probe | 1)]        // migration
    [InlineData(Probe | 6)]        // dma logging
    [InlineData(Get | 1)]
    [InlineData(Set | 1)]
    [InlineData(Probe | Get | Set | 8)]
    public void DeviceFeatureIsEnotsup(uint flags)
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.CallExpectError(Cmd.DeviceFeature, Feature(8, flags), Errno.ENOTSUP);
    }

    [Fact]
    public void MalformedDeviceFeatureIsEinval()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.CallExpectError(Cmd.DeviceFeature, Feature(8, Probe | 1, length: 4), Errno.EINVAL); // truncated
        c.CallExpectError(Cmd.DeviceFeature, Feature(4, Probe | 1), Errno.EINVAL);            // argsz < 8
        c.CallExpectError(Cmd.DeviceFeature, Feature(8, 1), Errno.EINVAL);                    // no operation
        c.CallExpectError(Cmd.DeviceFeature, Feature(8, Get | Set | 1), Errno.EINVAL);        // GET with SET, no PROBE
        c.CallExpectError(Cmd.DeviceFeature, Feature(8, (1u << 20) | Probe), Errno.EINVAL);   // unknown flag
    }

    [Theory]
    [InlineData(Cmd.MigDataRead)]
    [InlineData(Cmd.MigDataWrite)]
    [InlineData(Cmd.DirtyPages)]
    [InlineData(Cmd.GetRegionIoFds)]
    public void MigrationDirtyPagesAndIoFdsAreEnotsup(ushort command)
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        var payload = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(0), 16);    // argsz
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(4), 4096);  // size (MIG_DATA_READ)
        c.CallExpectError(command, payload, Errno.ENOTSUP);
    }

    [Theory]
    [InlineData((ushort)0)]
    [InlineData((ushort)19)]
    [InlineData((ushort)99)]
    [InlineData((ushort)0xFFFF)]
    [InlineData(Cmd.DmaRead)]  // server → client only
    [InlineData(Cmd.DmaWrite)]
    public void UnknownCommandsAndServerOnlyCommandsAreEinvalWithTheCommandEchoed(ushort command)
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        var payload = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(0), 0x1000);
        BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(8), 4);
        c.CallExpectError(command, payload, Errno.EINVAL); // asserts cmd and msg_id echoed
        Assert.Equal(0x11e81234u, c.Read32(7, 0));
    }

    [Fact]
    public void AReplyNobodyAskedForIsDroppedSilently()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.SendRaw(RawClient.Frame(0x7777, Cmd.DmaRead, new byte[16], flags: 1));
        Assert.True(c.StaysQuiet(TimeSpan.FromMilliseconds(200)));
        Assert.Equal(0x11e81234u, c.Read32(7, 0));
    }

    [Fact]
    public void AMessageTypeThatIsNeitherCommandNorReplyIsEinval()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        ushort id = c.NextId();
        c.SendRaw(RawClient.Frame(id, Cmd.RegionRead, RawClient.AccessPayload(7, 0, 4), flags: 2));
        using var reply = c.Receive();
        Assert.Equal(id, reply.Id);
        RawClient.AssertError(reply, Cmd.RegionRead, Errno.EINVAL);
        Assert.Equal(0x11e81234u, c.Read32(7, 0)); // and the payload was skipped
    }
}
