using PciKit.Testing;
using PciKit.Devices.Edu;
using PciKit.Linux;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>
/// What a connection leaves behind: nothing. The server runs in this process, so its descriptors and mappings show in
/// /proc/self — these tests run alone (no parallel test opens descriptors meanwhile).
/// </summary>
[Collection(FdCountingCollection.Name)]
public sealed class ConnectionLifecycleTests
{
    private static bool MapsMention(string name) => File.ReadAllText("/proc/self/maps").Contains(name, StringComparison.Ordinal);

    private static void Cycle(ServerHarness h, int i)
    {
        using (var c = h.ConnectNegotiated())
        {
            c.EnableMemoryAndBusMaster();
            using (var memfd = SharedMemory.CreateMemFd("pk-cycle", 0x2000))
            {
                c.MapDma(0x10000, 0x2000, memfd);
            }
            c.MapDma(0x20000, 0x1000); // message window
            using (var intx = new EventFd(options: EventFdOptions.NonBlocking))
            using (var msi = new EventFd(options: EventFdOptions.NonBlocking))
            {
                c.AttachEventFds(0, 0, intx);
                c.AttachEventFds(1, 0, msi);
            }
            c.Write32(0, 0x04, (uint)i);
            Edu.DmaToRam(c, 0, 0x10800, 0x100); // the window is in use when the client leaves
            c.Write32(0, 0x60, 1);
            c.Write32(0, 0x64, 1);
        }
        h.WaitClientsServed(i + 1);
    }

    [Fact]
    public void FiftyConnectMapIrqDisconnectCyclesReturnToTheBaseline()
    {
        using var h = new ServerHarness(new EduDevice());
        Cycle(h, 0); // warm-up: lazily created runtime descriptors
        var baseline = FdSnapshot.Settle();
        Assert.False(MapsMention("pk-cycle"));
        for (int i = 1; i <= 50; i++) Cycle(h, i);
        // Other test classes' threads may still be closing their own descriptors: give the count a moment to settle.
        // A leak here would be one or more fds per cycle, i.e. 50 or more.
        FdSnapshot.AssertReturnsTo(baseline);
        Assert.False(MapsMention("pk-cycle")); // every DMA window was unmapped
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        Assert.Equal(~50u, c.Read32(0, 0x04));
    }

    [Fact]
    public void TwentyEventfdsWithMaxMsgFds16AreEinvalAndTheServerClosesThem()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        using (c.Call(Cmd.DeviceGetInfo, new byte[] { 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 })) { }
        var fds = Enumerable.Range(0, 20).Select(_ => new EventFd()).ToArray();
        try
        {
            var before = FdSnapshot.Settle();
            var handles = fds.Select(f => f.Handle).ToArray();
            c.CallExpectError(Cmd.SetIrqs, RawClient.SetIrqsPayload(RawClient.DataEventFd | RawClient.ActionTrigger, 2, 0, 20), Errno.EINVAL, handles);
            FdSnapshot.AssertReturnsTo(before); // the 20 duplicates the server received are closed
            Assert.Equal(0x11e81234u, c.Read32(7, 0));
        }
        finally
        {
            foreach (var fd in fds) fd.Dispose();
        }
    }

    [Fact]
    public void RefusedMessagesCloseTheirFds()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        using var memfd = SharedMemory.CreateMemFd("pk-refused", 0x1000);
        using var efd = new EventFd();
        using (c.Call(Cmd.DeviceGetInfo, new byte[] { 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 })) { }
        var before = FdSnapshot.Settle();
        c.CallExpectError(Cmd.DmaMap, RawClient.DmaMapPayload(0x10000, 0x2000), Errno.EINVAL, [memfd]);   // past the file's end
        c.CallExpectError(Cmd.DeviceGetInfo, new byte[16], Errno.EINVAL, [efd.Handle]);                   // argsz 0, with an fd
        c.CallExpectError(Cmd.SetIrqs, RawClient.SetIrqsPayload(RawClient.DataNone | RawClient.ActionMask, 0, 0, 1), Errno.EINVAL, [efd.Handle]);
        c.CallExpectError(99, new byte[8], Errno.EINVAL, [efd.Handle]);
        c.MapDma(0x10000, 0x1000, memfd);
        c.CallExpectError(Cmd.DmaMap, RawClient.DmaMapPayload(0x10000, 0x1000), Errno.EEXIST, [memfd]); // overlap: its mapping is released
        using (c.CallOk(Cmd.DmaUnmap, RawClient.DmaUnmapPayload(0x10000, 0x1000))) { }
        FdSnapshot.AssertReturnsTo(before);
        Assert.False(MapsMention("pk-refused"));
    }

    [Fact]
    public void AClientThatLeavesMidMessageWithAnFdLeavesNothingBehind()
    {
        using var h = new ServerHarness(new EduDevice());
        Cycle(h, 0);
        var baseline = FdSnapshot.Settle();
        using (var memfd = SharedMemory.CreateMemFd("pk-midmsg", 0x1000))
        using (var c = h.ConnectNegotiated())
        {
            var frame = RawClient.Frame(c.NextId(), Cmd.DmaMap, RawClient.DmaMapPayload(0x10000, 0x1000));
            c.SendRaw(frame.AsSpan(0, 20), [memfd]);
        }
        h.WaitClientsServed(2);
        FdSnapshot.AssertReturnsTo(baseline);
        Assert.False(MapsMention("pk-midmsg"));
    }
}
