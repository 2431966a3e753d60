using System.Buffers.Binary;
using PciKit.Devices.Edu;
using PciKit.Devices.Sample;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>DEVICE_GET_IRQ_INFO (7): u32 argsz, flags, index, count.</summary>
public sealed class GetIrqInfoCommandTests
{
    private const uint EventFd = 1, Maskable = 2, AutoMasked = 4, NoResize = 8;

    private static byte[] Request(uint index, uint argsz = 16)
    {
        var p = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(0), argsz);
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(8), index);
        return p;
    }

    public static TheoryData<string, uint, uint, uint> Expected => new()
    {
        // device, index, flags, count
        { "edu", 0, EventFd | Maskable | AutoMasked, 1 },   // INTx
        { "edu", 1, EventFd | Maskable | NoResize, 1 },     // MSI: one vector
        { "edu", 2, EventFd | Maskable, 0 },                // no MSI-X
        { "edu", 3, EventFd, 1 },                           // ERR
        { "edu", 4, EventFd, 1 },                           // REQ
        { "sample", 0, EventFd | Maskable | AutoMasked, 1 },
        { "sample", 1, EventFd | Maskable | NoResize, 4 },
        { "sample", 2, EventFd | Maskable, 8 },
        { "sample", 3, EventFd, 1 },
        { "sample", 4, EventFd, 1 },
    };

    [Theory]
    [MemberData(nameof(Expected))]
    public void EachIndexReportsItsFlagsAndCount(string device, uint index, uint flags, uint count)
    {
        using var h = new ServerHarness(device == "edu" ? new EduDevice() : new SampleDevice());
        using var c = h.ConnectNegotiated();
        using var reply = c.CallOk(Cmd.GetIrqInfo, Request(index));
        Assert.Equal(16, reply.Payload.Length);
        Assert.Equal(16u, reply.U32(0));
        Assert.Equal(flags, reply.U32(4));
        Assert.Equal(index, reply.U32(8));
        Assert.Equal(count, reply.U32(12));
    }

    [Fact]
    public void AnIndexPastReqOrAShortArgszIsEinval()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.CallExpectError(Cmd.GetIrqInfo, Request(5), Errno.EINVAL);
        c.CallExpectError(Cmd.GetIrqInfo, Request(0, argsz: 12), Errno.EINVAL);
        c.CallExpectError(Cmd.GetIrqInfo, Request(0).AsSpan(0, 12), Errno.EINVAL);
    }
}
