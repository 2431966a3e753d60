using PciKit.Devices.Edu;
using PciKit.Devices.Sample;
using PciKit.Linux;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>DEVICE_RESET (13): empty request and reply; the device returns to its power-on state.</summary>
public sealed class DeviceResetCommandTests
{
    [Fact]
    public void ResetRestoresEduRegistersAndConfigSpace()
    {
        var device = new EduDevice();
        using var h = new ServerHarness(device);
        using var c = h.ConnectNegotiated();
        byte[] powerOn = c.Read(7, 0, 256);
        c.EnableMemoryAndBusMaster();
        c.Write32(0, 0x04, 0x1);
        c.Write64(0, 0x80, 0x1234);
        c.Write32(0, 0x60, 0x4);                        // interrupt status 4, INTx asserted
        int msi = c.FindCapability(0x05);
        c.Write32(7, (ulong)msi + 4, 0xFEE0_0000);
        c.Write32(7, 0x10, 0xFEB0_0000);                // BAR0 address
        Assert.NotEqual(powerOn, c.Read(7, 0, 256));

        using (var reply = c.CallOk(Cmd.DeviceReset, []))
            Assert.Empty(reply.Payload);

        Assert.Equal(powerOn, c.Read(7, 0, 256));       // command, status, BAR, MSI: all as at power-on
        c.EnableMemoryAndBusMaster();
        Assert.Equal(0u, c.Read32(0, 0x04));            // liveness holds ~0 again
        Assert.Equal(0ul, c.Read64(0, 0x80));
        Assert.Equal(0u, c.Read32(0, 0x24));
        Assert.Equal(0, c.Read16(7, 0x06) & 0x08);
    }

    [Fact]
    public void ResetWithAPayloadIsEinvalAndResetsNothing()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        c.Write32(0, 0x04, 0x1);
        c.CallExpectError(Cmd.DeviceReset, [0, 0, 0, 0], Errno.EINVAL);
        Assert.Equal(0xFFFFFFFEu, c.Read32(0, 0x04));
    }

    [Fact]
    public void MsiXRoutingSurvivesAResetOnceTheDriverEnablesMsiXAgain()
    {
        using var h = new ServerHarness(new SampleDevice());
        using var c = h.ConnectNegotiated();
        using var fd = new EventFd(options: EventFdOptions.NonBlocking);
        c.AttachEventFds(2, 2, fd);
        using (c.CallOk(Cmd.DeviceReset, [])) { }
        c.EnableMemoryAndBusMaster();
        int cap = c.FindCapability(0x11);
        c.Write16(7, (ulong)cap + 2, 0x8000);
        c.Write32(0, 0x08, 2);
        Assert.Equal(1ul, Eventually.Fired(fd));
    }
}
