using PciKit.Testing;
namespace PciKit.Linux.Tests;

[Collection(SerialCollection.Name)]
public sealed class FdLeakTests
{
    [Fact]
    public async Task ThousandCyclesLeaveNoDescriptorBehind()
    {
        Cycle(0);
        await WarmUpEpollLoop();
        var before = FdSnapshot.Settle();

        for (int i = 0; i < 1000; i++)
        {
            Cycle(i);
        }

        FdSnapshot.AssertReturnsTo(before);
    }

    private static void Cycle(int i)
    {
        var (a, b) = UnixSocket.CreatePair();
        using (a)
        using (b)
        using (var memfd = SharedMemory.CreateMemFd("leak", 4096))
        using (var mapping = MemoryMapping.Map(memfd, 0, 4096))
        using (var e = new EventFd(options: EventFdOptions.NonBlocking))
        using (var fds = new ReceivedFds(2))
        using (var tooFew = new ReceivedFds(1))
        {
            Span<byte> buffer = stackalloc byte[8];
            a.Send("ab"u8, [memfd, e.Handle]);
            Assert.Equal(2, b.Receive(buffer, fds));
            using (var remote = MemoryMapping.Map(fds[0], 0, 4096))
            {
                remote.Write(0, i);
            }

            Assert.Equal(i, mapping.Read<int>(0));

            // Rejected path: too many descriptors for the container.
            a.Send("c"u8, [memfd, e.Handle]);
            Assert.Equal(1, b.Receive(buffer, tooFew));
            Assert.Equal(FdTransferStatus.TooManyFds, tooFew.Status);

            // Truncated path.
            fds.Clear();
            a.Send("d"u8, [memfd, e.Handle]);
            Assert.True(b.TryReceiveCore(buffer, fds, Interop.Cmsg.Len(sizeof(int)), out _));
            Assert.Equal(FdTransferStatus.ControlTruncated, fds.Status);
        }
    }

    private static async Task WarmUpEpollLoop()
    {
        using var e = new EventFd(options: EventFdOptions.NonBlocking);
        ValueTask<ulong> wait = e.WaitAsync();
        e.Signal();
        await wait;
    }
}
