using System.Buffers.Binary;
using PciKit.Devices.Edu;
using PciKit.Devices.Sample;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>DEVICE_GET_INFO (4).</summary>
public sealed class DeviceGetInfoCommandTests
{
    private static byte[] Request(uint argsz, int length = 16)
    {
        var p = new byte[length];
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(0), argsz);
        return p;
    }

    [Fact]
    public void APciDeviceWithResetNineRegionsAndFiveIrqIndices()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        using var reply = c.CallOk(Cmd.DeviceGetInfo, Request(16));
        Assert.Equal(
            Bytes.Hex("10000000 03000000 09000000 05000000"), // argsz 16, flags RESET|PCI, 9 regions, 5 irqs
            reply.Payload);
    }

    [Fact]
    public void ALargerArgszStillGetsTheSixteenByteReply()
    {
        using var h = new ServerHarness(new SampleDevice());
        using var c = h.ConnectNegotiated();
        using var reply = c.CallOk(Cmd.DeviceGetInfo, Request(64));
        Assert.Equal(16, reply.Payload.Length);
        Assert.Equal(16u, reply.U32(0));
        Assert.Equal(9u, reply.U32(8));
    }

    [Theory]
    [InlineData(0u, 16)]
    [InlineData(15u, 16)]
    [InlineData(16u, 12)] // payload shorter than the struct
    public void ArgszBelowSixteenOrATruncatedPayloadIsEinval(uint argsz, int length)
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.CallExpectError(Cmd.DeviceGetInfo, Request(argsz, length), Errno.EINVAL);
    }
}
