using System.Buffers.Binary;
using PciKit.Devices.Edu;
using PciKit.Devices.Sample;
using PciKit.Linux;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>Broken framing and clients that leave at the worst moment: the server answers or drops them, and keeps serving.</summary>
public sealed class RobustnessTests
{
    private static void AssertServes(ServerHarness h)
    {
        using var next = h.ConnectNegotiated();
        Assert.Equal(0x11e81234u, next.Read32(7, 0));
    }

    [Fact]
    public void AClientThatClosesMidHeaderIsDroppedAndTheNextClientIsServed()
    {
        using var h = new ServerHarness(new EduDevice());
        using (var c = h.Connect())
            c.SendRaw(RawClient.Frame(1, Cmd.Version, RawClient.VersionPayload(0, 0, "{}")).AsSpan(0, 9));
        h.WaitClientsServed(1);
        AssertServes(h);
    }

    [Fact]
    public void AClientThatClosesMidPayloadIsDroppedAndTheNextClientIsServed()
    {
        using var h = new ServerHarness(new EduDevice());
        using (var c = h.ConnectNegotiated())
        {
            var frame = RawClient.Frame(c.NextId(), Cmd.RegionWrite, RawClient.AccessPayload(7, 4, 64, new byte[64]));
            c.SendRaw(frame.AsSpan(0, 40));
        }
        h.WaitClientsServed(1);
        AssertServes(h);
    }

    [Fact]
    public void AMessageLargerThanTheMaximumIsE2bigAndItsPayloadIsSkipped()
    {
        // max_data_xfer_size 4096: messages up to 4096 + 4096 bytes.
        using var h = new ServerHarness(new EduDevice(), new() { MaxDataTransferSize = 4096 });
        using var c = h.ConnectNegotiated();
        // The oversized payload is made of valid REGION_WRITE frames to the command register: none may be executed.
        var inner = RawClient.Frame(0x5555, Cmd.RegionWrite, RawClient.AccessPayload(7, 4, 2, [0x06, 0x00]));
        var payload = Enumerable.Repeat(inner, 20000 / inner.Length).SelectMany(b => b).ToArray();
        ushort id = c.NextId();
        c.SendRaw(RawClient.Frame(id, Cmd.RegionWrite, payload));
        using (var reply = c.Receive())
        {
            Assert.Equal(id, reply.Id);
            RawClient.AssertError(reply, Cmd.RegionWrite, Errno.E2BIG);
        }
        Assert.Equal(0, c.Read16(7, 4));           // the next reply is this read's: nothing inside was run
        Assert.True(c.StaysQuiet(TimeSpan.FromMilliseconds(100)));
        Assert.Equal(256, c.Read(7, 0, 256).Length); // and normal traffic goes on
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(8u)]
    [InlineData(15u)]
    public void AMsgSizeSmallerThanTheHeaderIsEinval(uint size)
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        ushort id = c.NextId();
        c.SendRaw(RawClient.Frame(id, Cmd.DeviceGetInfo, [], sizeOverride: size));
        using (var reply = c.Receive())
        {
            Assert.Equal(id, reply.Id);
            RawClient.AssertError(reply, Cmd.DeviceGetInfo, Errno.EINVAL);
        }
        Assert.Equal(0x11e81234u, c.Read32(7, 0));
    }

    [Fact]
    public void MoreFdsThanMaxMsgFdsIsEinvalEvenForAnOtherwiseValidRequest()
    {
        using var h = new ServerHarness(new SampleDevice(), new() { MaxMessageFds = 4 });
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        c.Write16(7, (ulong)c.FindCapability(0x11) + 2, 0x8000);
        var fds = Enumerable.Range(0, 5).Select(_ => new EventFd(options: EventFdOptions.NonBlocking)).ToArray();
        try
        {
            var handles = fds.Select(f => f.Handle).ToArray();
            c.CallExpectError(Cmd.SetIrqs, RawClient.SetIrqsPayload(RawClient.DataEventFd | RawClient.ActionTrigger, 2, 0, 5), Errno.EINVAL, handles);
            c.Write32(0, 0x08, 4);
            Assert.True(Eventually.Quiet(fds[4]));       // nothing was attached
            c.AttachEventFds(2, 0, fds[..4]);           // four is the limit and works
            c.Write32(0, 0x08, 3);
            Assert.Equal(1ul, Eventually.Fired(fds[3]));
        }
        finally
        {
            foreach (var fd in fds) fd.Dispose();
        }
    }

    [Fact]
    public void TheDeviceKeepsItsStateWhenTheClientLeavesButItsWindowsAndEventfdsGo()
    {
        using var h = new ServerHarness(new EduDevice());
        using var memfd = SharedMemory.CreateMemFd("pk-keep", 0x1000);
        using var ram = MemoryMapping.Map(memfd, 0, 0x1000);
        using var intx = new EventFd(options: EventFdOptions.NonBlocking);
        using (var c = h.ConnectNegotiated())
        {
            c.EnableMemoryAndBusMaster();
            c.Write32(0, 0x04, 0x600D);
            c.MapDma(0x10000, 0x1000, memfd);
            c.AttachEventFds(0, 0, intx);
        }
        h.WaitClientsServed(1);

        using var next = h.ConnectNegotiated();
        Assert.Equal(0x0006, next.Read16(7, 4));          // config space kept
        Assert.Equal(~0x600Du, next.Read32(0, 0x04));     // register kept
        next.Write32(0, 0x60, 1);                          // the old client's eventfd is no longer attached
        Assert.True(Eventually.Quiet(intx));
        ram.GetSpan(0, 16).Fill(0x77);
        Edu.DmaToRam(next, 0, 0x10000, 16);                // nor its DMA window
        Assert.True(Edu.MasterAbort(next));
        Assert.Equal(Enumerable.Repeat((byte)0x77, 16).ToArray(), ram.GetSpan(0, 16).ToArray());
    }

    [Fact]
    public void AClientMayKeepSendingCommandsBeforeItAnswersADmaRequest()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        c.DmaMemory = Edu.Pattern(0x1000, 11);
        c.DmaBase = 0x100000;
        c.MapDma(0x100000, 0x1000);
        c.Write64(0, 0x80, 0x100000);
        c.Write64(0, 0x88, Edu.Buffer);
        c.Write64(0, 0x90, 0x100);
        c.Write64(0, 0x98, 1);

        var dmaRead = c.Receive();                     // the device's DMA_READ, while it holds the device
        Assert.Equal(Cmd.DmaRead, dmaRead.Command);
        Assert.Equal(0u, dmaRead.Flags);
        Assert.Equal(0x100000ul, dmaRead.U64(0));
        Assert.Equal(0x100ul, dmaRead.U64(8));
        ushort config = c.Send(Cmd.RegionRead, RawClient.AccessPayload(7, 0, 4));
        ushort bar = c.Send(Cmd.RegionRead, RawClient.AccessPayload(0, 0x98, 8)); // needs the device lock
        Thread.Sleep(50);
        c.AnswerDma(dmaRead);
        using (var r = c.ReadReply(config, Cmd.RegionRead)) Assert.Equal(0x11e81234u, r.U32(16));
        using (var r = c.ReadReply(bar, Cmd.RegionRead)) Assert.Equal(0ul, r.U64(16) & 1); // done: the DMA finished first
        Assert.False(Edu.MasterAbort(c));
    }

    [Fact]
    public void DisposingTheServerWhileItsClientLeavesDoesNotThrow()
    {
        for (int i = 0; i < 100; i++)
        {
            var h = new ServerHarness(new EduDevice());
            using (var c = h.ConnectNegotiated())
                c.Write32(7, 4, 0);
            h.Dispose(); // races with the connection thread tearing down
        }
    }
}
