using PciKit.Testing;
using PciKit.Device;
using PciKit.Linux;
using PciKit.VfioUser.Client;
using PciKit.VfioUser.Protocol;

namespace PciKit.VfioUser.Tests.Client;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FdCountingCollection
{
    public const string Name = "fd counting";
}

[Collection(FdCountingCollection.Name)]
public sealed class ClientFdLeakTests
{
    [Theory]
    [InlineData(DmaMode.SharedMemory)]
    [InlineData(DmaMode.Messages)]
    public async Task Connect_map_dma_interrupts_and_dispose_leave_no_descriptor_behind(DmaMode mode)
    {
        await Cycle(mode); // warms up the epoll thread and the runtime
        var before = FdSnapshot.Settle();
        for (int i = 0; i < 20; i++) await Cycle(mode);
        // Other test classes' threads may still be closing their own descriptors: let the count settle (a leak would be ≥ 20).
        FdSnapshot.AssertReturnsTo(before);
    }

    private static async Task Cycle(DmaMode mode)
    {
        var (client, server, _) = ClientTestSupport.Connect(new VfioUserClientOptions { DmaMode = mode });
        using (server)
        {
            var held = new List<SafeFd>();
            var script = server.Run(s =>
            {
                // DMA_MAP, SET_IRQS (MSI), then whatever comes until the client hangs up.
                while (true)
                {
                    Received m;
                    try { m = s.Receive(); }
                    catch (InvalidOperationException) { return; }
                    if (m.Header.Command == VfioUserCommand.DeviceSetIrqs && m.Fds.Length == 1)
                    {
                        using var e = EventFd.FromHandle(m.Fds[0]);
                        e.Signal();
                    }
                    else m.Dispose();
                    if (m.Header.Command == VfioUserCommand.RegionRead) s.ServeConfigRead(m);
                    else s.ReplyOk(m);
                }
            });
            var recorder = new SignalRecorder();
            using (var buffer = client.AllocateDmaBuffer(5000, 32))
            {
                buffer.Span[4999] = 1;
                client.AttachInterrupts(PciInterruptKind.Msi, 1, recorder);
                Assert.True(recorder.WaitFor(1, ClientTestSupport.Timeout));
                using var mapping = client.TryMapBar(0, 0x1000, 0x100, out _);
                Assert.NotNull(mapping);
                client.ConfigRead(0, 4);
            }
            client.AllocateDmaBuffer(10, 32); // left for Dispose to free
            client.AttachInterrupts(PciInterruptKind.Intx, 1, recorder);
            client.TryMapBar(0, 0x1000, 0x1000, out _); // left for Dispose to unmap
            client.Dispose();
            await script.WaitAsync(ClientTestSupport.Timeout);
        }
    }
}
