using PciKit.Devices.Edu;
using PciKit.Devices.Sample;
using PciKit.Linux;
using static PciKit.VfioUser.Tests.Server.RawClient;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>DEVICE_SET_IRQS (8): eventfds for INTx (automasked), MSI and MSI-X, masking, detaching, and refusals.</summary>
public sealed class SetIrqsCommandTests
{
    private const uint Intx = 0, Msi = 1, MsiX = 2;

    private static ushort StatusRegister(RawClient c) => c.Read16(7, 0x06);

    private static void SetIrqs(RawClient c, uint flags, uint index, uint start, uint count, byte[]? bools = null)
    {
        using var reply = c.CallOk(Cmd.SetIrqs, SetIrqsPayload(flags, index, start, count, bools));
        Assert.Empty(reply.Payload);
    }

    [Fact]
    public void EduRaiseFiresTheIntxEventfdAndStatusBit3FollowsTheLine()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        using var intx = new EventFd(options: EventFdOptions.NonBlocking);
        c.AttachEventFds(Intx, 0, intx);
        Assert.Equal(0, StatusRegister(c) & 0x08);

        c.Write32(0, 0x60, 0x1);                  // raise
        Assert.Equal(1ul, Eventually.Fired(intx));
        Assert.Equal(0x08, StatusRegister(c) & 0x08); // Interrupt Status while asserted
        Assert.Equal(1u, c.Read32(0, 0x24));

        c.Write32(0, 0x64, 0x1);                  // acknowledge
        Assert.Equal(0, StatusRegister(c) & 0x08);
        Assert.Equal(0u, c.Read32(0, 0x24));
    }

    [Fact]
    public void IntxIsAutomaskedUntilTheClientUnmasks()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        using var intx = new EventFd(options: EventFdOptions.NonBlocking);
        c.AttachEventFds(Intx, 0, intx);

        c.Write32(0, 0x60, 0x1);
        Assert.Equal(1ul, Eventually.Fired(intx));
        c.Write32(0, 0x64, 0x1);                   // the line drops …
        c.Write32(0, 0x60, 0x1);                   // … and rises again, but the client has not unmasked
        Assert.True(Eventually.Quiet(intx));
        Assert.Equal(0x08, StatusRegister(c) & 0x08);

        SetIrqs(c, DataNone | ActionUnmask, Intx, 0, 1); // unmask while asserted: delivered at once
        Assert.Equal(1ul, Eventually.Fired(intx));

        // Masked again by that delivery: a raise while still asserted stays quiet until the next unmask.
        c.Write32(0, 0x60, 0x1);
        Assert.True(Eventually.Quiet(intx));
        c.Write32(0, 0x64, 0x1);
        SetIrqs(c, DataNone | ActionUnmask, Intx, 0, 1); // deasserted now: unmask delivers nothing
        Assert.True(Eventually.Quiet(intx));
        c.Write32(0, 0x60, 0x1);
        Assert.Equal(1ul, Eventually.Fired(intx));
    }

    [Fact]
    public void EduRaiseWithMsiEnabledFiresTheMsiEventfd()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        int cap = c.FindCapability(0x05);
        c.Write32(7, (ulong)cap + 4, 0xFEE0_0000); // address low
        c.Write32(7, (ulong)cap + 8, 0);           // address high (64-bit capable)
        c.Write16(7, (ulong)cap + 12, 0x4041);     // data
        c.Write16(7, (ulong)cap + 2, 0x0001);      // MSI Enable
        Assert.Equal(1, c.Read16(7, (ulong)cap + 2) & 1);
        using var msi = new EventFd(options: EventFdOptions.NonBlocking);
        using var intx = new EventFd(options: EventFdOptions.NonBlocking);
        c.AttachEventFds(Msi, 0, msi);
        c.AttachEventFds(Intx, 0, intx);

        c.Write32(0, 0x60, 0x1);
        Assert.Equal(1ul, Eventually.Fired(msi));
        c.Write32(0, 0x64, 0x1);
        c.Write32(0, 0x60, 0x1);                   // MSI is not automasked: every raise is a message
        Assert.Equal(1ul, Eventually.Fired(msi));
        Assert.True(Eventually.Quiet(intx));        // INTx stays silent while MSI is enabled
    }

    private static (RawClient Client, int Cap) SampleWithMsiX(ServerHarness h)
    {
        var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        int cap = c.FindCapability(0x11);
        c.Write16(7, (ulong)cap + 2, 0x8000);     // MSI-X Enable
        Assert.Equal(0x8000, c.Read16(7, (ulong)cap + 2) & 0xC000);
        return (c, cap);
    }

    private static EventFd[] EventFds(int n) => Enumerable.Range(0, n).Select(_ => new EventFd(options: EventFdOptions.NonBlocking)).ToArray();

    private static void Doorbell(RawClient c, uint vector) => c.Write32(0, 0x08, vector);

    /// <summary>Asserts that exactly vector <paramref name="fired"/> (or none) has a pending count, and consumes it.</summary>
    private static void AssertOnly(EventFd[] fds, int? fired)
    {
        if (fired is int f) Assert.Equal(1ul, Eventually.Fired(fds[f]));
        Thread.Sleep(20);
        for (int i = 0; i < fds.Length; i++)
            Assert.False(fds[i].TryRead(out _), $"vector {i} fired unexpectedly");
    }

    [Fact]
    public void MsiXDoorbellFiresTheEventfdOfEachVector()
    {
        using var h = new ServerHarness(new SampleDevice());
        var (c, _) = SampleWithMsiX(h);
        using var _c = c;
        var fds = EventFds(8);
        try
        {
            c.AttachEventFds(MsiX, 0, fds);
            foreach (uint v in new uint[] { 0, 7, 3, 5, 1, 6, 2, 4, 3 })
            {
                Doorbell(c, v);
                AssertOnly(fds, (int)v);
            }
        }
        finally
        {
            foreach (var fd in fds) fd.Dispose();
        }
    }

    [Fact]
    public void AttachingASubrangeLeavesTheOtherVectorsUnrouted()
    {
        using var h = new ServerHarness(new SampleDevice());
        var (c, _) = SampleWithMsiX(h);
        using var _c = c;
        var fds = EventFds(2);
        try
        {
            c.AttachEventFds(MsiX, 4, fds); // vectors 4 and 5
            Doorbell(c, 5);
            AssertOnly(fds, 1);
            Doorbell(c, 4);
            AssertOnly(fds, 0);
            Doorbell(c, 0);
            AssertOnly(fds, null);
        }
        finally
        {
            foreach (var fd in fds) fd.Dispose();
        }
    }

    [Fact]
    public void AMaskedMsiXVectorHoldsItsInterruptUntilUnmasked()
    {
        using var h = new ServerHarness(new SampleDevice());
        var (c, _) = SampleWithMsiX(h);
        using var _c = c;
        var fds = EventFds(8);
        try
        {
            c.AttachEventFds(MsiX, 0, fds);
            SetIrqs(c, DataNone | ActionMask, MsiX, 3, 1);
            Doorbell(c, 3);
            AssertOnly(fds, null);
            Doorbell(c, 2);                              // other vectors are not affected
            AssertOnly(fds, 2);
            SetIrqs(c, DataNone | ActionUnmask, MsiX, 3, 1); // the pending interrupt is delivered
            AssertOnly(fds, 3);
            SetIrqs(c, DataNone | ActionUnmask, MsiX, 3, 1); // … once
            AssertOnly(fds, null);

            // DATA_BOOL selects vectors: mask 1 and 5 only.
            SetIrqs(c, DataBool | ActionMask, MsiX, 0, 8, [0, 1, 0, 0, 0, 1, 0, 0]);
            Doorbell(c, 1);
            Doorbell(c, 5);
            Doorbell(c, 0);
            AssertOnly(fds, 0);
            SetIrqs(c, DataBool | ActionUnmask, MsiX, 5, 1, [1]);
            AssertOnly(fds, 5);
            SetIrqs(c, DataNone | ActionUnmask, MsiX, 0, 2);
            AssertOnly(fds, 1);
        }
        finally
        {
            foreach (var fd in fds) fd.Dispose();
        }
    }

    [Fact]
    public void TriggerWithDataNoneSignalsTheVectorFromTheServer()
    {
        using var h = new ServerHarness(new SampleDevice());
        var (c, _) = SampleWithMsiX(h);
        using var _c = c;
        var fds = EventFds(8);
        try
        {
            c.AttachEventFds(MsiX, 0, fds);
            SetIrqs(c, DataNone | ActionTrigger, MsiX, 6, 1);
            AssertOnly(fds, 6);
        }
        finally
        {
            foreach (var fd in fds) fd.Dispose();
        }
    }

    [Fact]
    public void DataEventfdWithoutFdsUnassignsThoseVectorsAsQemuSendsIt()
    {
        // QEMU sends a run of "no eventfd" (-1) vectors as DATA_EVENTFD|TRIGGER with count N and no fds, e.g. when it
        // enables MSI-X with vector 0 unassigned; the kernel's VFIO treats -1 as "no trigger".
        using var h = new ServerHarness(new SampleDevice());
        var (c, _) = SampleWithMsiX(h);
        using var _c = c;
        var fds = EventFds(8);
        try
        {
            c.AttachEventFds(MsiX, 0, fds);
            SetIrqs(c, DataEventFd | ActionTrigger, MsiX, 2, 3); // vectors 2, 3, 4: no eventfd
            foreach (uint v in new uint[] { 2, 3, 4 })
            {
                Doorbell(c, v);
                AssertOnly(fds, null);
            }
            Doorbell(c, 5);
            AssertOnly(fds, 5);
        }
        finally
        {
            foreach (var fd in fds) fd.Dispose();
        }
    }

    [Fact]
    public void DataNoneTriggerWithCountZeroDetachesTheIndex()
    {
        using var h = new ServerHarness(new SampleDevice());
        var (c, _) = SampleWithMsiX(h);
        using var _c = c;
        var fds = EventFds(8);
        try
        {
            c.AttachEventFds(MsiX, 0, fds);
            SetIrqs(c, DataNone | ActionTrigger, MsiX, 0, 0);
            Doorbell(c, 0);
            Doorbell(c, 7);
            AssertOnly(fds, null);
            c.AttachEventFds(MsiX, 7, fds[7]); // and it can be attached again
            Doorbell(c, 7);
            AssertOnly(fds, 7);
        }
        finally
        {
            foreach (var fd in fds) fd.Dispose();
        }
    }

    [Fact]
    public void IntxDetachesWithCountZeroToo()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated();
        c.EnableMemoryAndBusMaster();
        using var intx = new EventFd(options: EventFdOptions.NonBlocking);
        c.AttachEventFds(Intx, 0, intx);
        SetIrqs(c, DataNone | ActionTrigger, Intx, 0, 0);
        c.Write32(0, 0x60, 0x1);
        Assert.True(Eventually.Quiet(intx));
        Assert.Equal(0x08, StatusRegister(c) & 0x08); // the device still asserts; nobody listens
    }

    [Fact]
    public void MalformedRequestsAreEinvalAndLeaveTheRoutingAlone()
    {
        using var h = new ServerHarness(new SampleDevice());
        var (c, _) = SampleWithMsiX(h);
        using var _c = c;
        var fds = EventFds(3);
        try
        {
            c.AttachEventFds(MsiX, 0, fds[0]);
            var one = new[] { fds[1].Handle };
            var two = new[] { fds[1].Handle, fds[2].Handle };
            const uint attach = DataEventFd | ActionTrigger;
            c.CallExpectError(Cmd.SetIrqs, SetIrqsPayload(attach, MsiX, 0, 2), Errno.EINVAL, one);      // 1 fd for count 2
            c.CallExpectError(Cmd.SetIrqs, SetIrqsPayload(attach, MsiX, 0, 1), Errno.EINVAL, two);      // 2 fds for count 1
            c.CallExpectError(Cmd.SetIrqs, SetIrqsPayload(attach, MsiX, 7, 2), Errno.EINVAL, two);      // start + count beyond 8
            c.CallExpectError(Cmd.SetIrqs, SetIrqsPayload(attach, MsiX, 8, 1), Errno.EINVAL, one);
            c.CallExpectError(Cmd.SetIrqs, SetIrqsPayload(attach, Intx, 1, 1), Errno.EINVAL, one);      // INTx has one line
            c.CallExpectError(Cmd.SetIrqs, SetIrqsPayload(attach, 5, 0, 1), Errno.EINVAL, one);        // no index 5
            c.CallExpectError(Cmd.SetIrqs, SetIrqsPayload(attach, MsiX, 0, 0), Errno.EINVAL, one);      // count 0 with fds
            c.CallExpectError(Cmd.SetIrqs, SetIrqsPayload(DataEventFd | ActionMask, MsiX, 0, 1), Errno.EINVAL, one);
            c.CallExpectError(Cmd.SetIrqs, SetIrqsPayload(DataNone | DataBool | ActionMask, MsiX, 0, 1), Errno.EINVAL);
            c.CallExpectError(Cmd.SetIrqs, SetIrqsPayload(DataNone | ActionMask | ActionUnmask, MsiX, 0, 1), Errno.EINVAL);
            c.CallExpectError(Cmd.SetIrqs, SetIrqsPayload(DataNone | ActionMask, MsiX, 0, 1), Errno.EINVAL, one); // fds without DATA_EVENTFD
            c.CallExpectError(Cmd.SetIrqs, SetIrqsPayload(DataBool | ActionMask, MsiX, 0, 2, [1]), Errno.EINVAL); // bool array short
            c.CallExpectError(Cmd.SetIrqs, SetIrqsPayload(DataNone | ActionMask, MsiX, 0xFFFFFFFF, 2), Errno.EINVAL); // wraps
            c.CallExpectError(Cmd.SetIrqs, SetIrqsPayload(attach, MsiX, 0, 1).AsSpan(0, 16), Errno.EINVAL, one);   // truncated

            Doorbell(c, 0); // vector 0 still routed to fds[0]; nothing went to fds[1] or fds[2]
            AssertOnly(fds, 0);
            Doorbell(c, 1);
            AssertOnly(fds, null);
        }
        finally
        {
            foreach (var fd in fds) fd.Dispose();
        }
    }
}
