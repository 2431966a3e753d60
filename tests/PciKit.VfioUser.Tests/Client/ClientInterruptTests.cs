using PciKit.Device;
using PciKit.Linux;
using PciKit.VfioUser.Client;
using PciKit.VfioUser.Protocol;
using static PciKit.VfioUser.Tests.Bytes;

namespace PciKit.VfioUser.Tests.Client;

public sealed class ClientInterruptTests
{
    [Fact]
    public void Msix_eventfds_go_in_batches_of_the_servers_max_msg_fds_and_each_counter_unit_is_a_signal()
    {
        var (client, server, _) = ClientTestSupport.Connect(serverMaxFds: 2);
        using var _c = client;
        using var _s = server;
        var sets = new List<byte[]>();
        var fds = new List<SafeFd>();
        byte[]? detach = null;
        using var detachNow = new ManualResetEventSlim();
        var script = server.Run(s =>
        {
            for (int i = 0; i < 2; i++)
            {
                var m = s.Expect(VfioUserCommand.DeviceSetIrqs);
                sets.Add(m.Raw);
                lock (fds) fds.AddRange(m.Fds);
                s.ReplyOk(m);
            }
            using var d = s.Expect(VfioUserCommand.DeviceSetIrqs);
            detach = d.Raw;
            s.ReplyOk(d);
        });
        var recorder = new SignalRecorder();
        var messages = client.AttachInterrupts(PciInterruptKind.MsiX, 4, recorder);
        Assert.Equal(4, messages.Count);
        Assert.All(messages, (m, i) => { Assert.Equal(VfioUserClient.MsiAddress, m.Address); Assert.Equal((uint)i, m.Data); });
        Assert.Equal(Hex("1200 0800 24000000 00000000 00000000  14000000 24000000 02000000 00000000 02000000"), sets[0]);
        Assert.Equal(Hex("1300 0800 24000000 00000000 00000000  14000000 24000000 02000000 02000000 02000000"), sets[1]);
        Assert.Equal(4, fds.Count);

        using (var e3 = EventFd.FromHandle(fds[3])) e3.Signal(2);
        using (var e0 = EventFd.FromHandle(fds[0])) e0.Signal();
        Assert.True(recorder.WaitFor(3, ClientTestSupport.Timeout));
        Assert.Equal(2, recorder.Signals.Count(v => v == 3));
        Assert.Equal(1, recorder.Signals.Count(v => v == 0));

        client.DetachInterrupts(PciInterruptKind.MsiX);
        ClientTestSupport.Finish(script);
        Assert.Equal(Hex("1400 0800 24000000 00000000 00000000  14000000 21000000 02000000 00000000 00000000"), detach);
        foreach (var fd in fds.Skip(1).Take(2)) fd.Dispose();
    }

    [Fact]
    public void Intx_wake_is_followed_by_an_unmask_once_the_line_is_down_and_a_signal_raised_before_a_reply_is_seen_when_the_call_returns()
    {
        var (client, server, _) = ClientTestSupport.Connect();
        using var _c = client;
        using var _s = server;
        byte[]? unmask = null;
        EventFd? line = null;
        var script = server.Run(s =>
        {
            var m = s.Expect(VfioUserCommand.DeviceSetIrqs); // its fd becomes `line`
            {
                Assert.Equal(Hex("14000000 24000000 00000000 00000000 01000000"), m.Payload);
                line = EventFd.FromHandle(m.Fds.Single());
                s.ReplyOk(m);
            }
            // A register write that raises INTx: the eventfd is written before the reply.
            using (var w = s.Expect(VfioUserCommand.RegionWrite))
            {
                line!.Signal();
                s.ReplyOk(w);
            }
            // Before unmasking, the client checks that the line is down (Command/Status, config offset 4).
            using (var status = s.Expect(VfioUserCommand.RegionRead))
            {
                Assert.Equal(Hex("0400000000000000 07000000 04000000"), status.Payload);
                s.ServeConfigRead(status);
            }
            using (var u = s.Expect(VfioUserCommand.DeviceSetIrqs))
            {
                unmask = u.Payload;
                s.ReplyOk(u);
            }
            using var d = s.Expect(VfioUserCommand.DeviceSetIrqs);
            s.ReplyOk(d);
        });
        var recorder = new SignalRecorder();
        Assert.Empty(client.AttachInterrupts(PciInterruptKind.Intx, 1, recorder));
        client.BarWrite(0, 0x60, 4, 1);
        Assert.Equal([0], recorder.Signals.ToArray()); // delivered with the reply, not later
        SpinWait.SpinUntil(() => unmask is not null, ClientTestSupport.Timeout);
        Assert.Equal(Hex("14000000 11000000 00000000 00000000 01000000"), unmask);
        client.DetachInterrupts(PciInterruptKind.Intx);
        ClientTestSupport.Finish(script);
        line?.Dispose();
        Assert.Single(recorder.Signals);
    }

    [Fact]
    public void Asking_for_more_vectors_than_the_server_offers_is_refused_before_anything_is_sent()
    {
        var (client, server, _) = ClientTestSupport.Connect();
        using var _c = client;
        using var _s = server;
        Assert.Throws<PciDriverException>(() => client.AttachInterrupts(PciInterruptKind.Msi, 2, new SignalRecorder()));
    }
}
