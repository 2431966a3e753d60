using PciKit.Testing;
namespace PciKit.Linux.Tests;

public sealed class UnixSocketFdPassingTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(16)]
    [InlineData(253)]
    public void SendsAndReceivesDescriptorsThatWork(int count)
    {
        var (a, b) = UnixSocket.CreatePair();
        using (a)
        using (b)
        {
            var events = new EventFd[count];
            var handles = new SafeFd[count];
            for (int i = 0; i < count; i++)
            {
                events[i] = new EventFd(options: EventFdOptions.NonBlocking);
                handles[i] = events[i].Handle;
            }

            try
            {
                a.SendAll("message"u8, handles);

                using var received = new ReceivedFds(count);
                var buffer = new byte[64];
                int n = b.Receive(buffer, received);
                Assert.Equal("message"u8.ToArray(), buffer[..n]);
                Assert.Equal(FdTransferStatus.Ok, received.Status);
                Assert.Equal(count, received.Count);
                for (int i = 0; i < count; i++)
                {
                    Assert.True(received[i].IsCloseOnExec);
                    Assert.NotEqual(TestSupport.RawFd(handles[i]), TestSupport.RawFd(received[i]));
                    using var remote = EventFd.FromHandle(received.Take(i));
                    remote.Signal((ulong)i + 1);
                    Assert.Equal((ulong)i + 1, events[i].Read());
                }
            }
            finally
            {
                foreach (EventFd e in events)
                {
                    e.Dispose();
                }
            }
        }
    }

    [Fact]
    public void ReceivedMemFdSharesMemoryWithTheOriginal()
    {
        var (a, b) = UnixSocket.CreatePair();
        using (a)
        using (b)
        {
            using SafeFd memfd = SharedMemory.CreateMemFd("shared", 4096);
            using var mine = MemoryMapping.Map(memfd, 0, 4096);
            a.Send(new byte[] { 1 }, [memfd]);

            using var fds = new ReceivedFds(1);
            Assert.Equal(1, b.Receive(new byte[1], fds));
            using SafeFd theirs = fds.Take(0);
            Assert.Equal(4096ul, theirs.GetSize());
            using var remote = MemoryMapping.Map(theirs, 0, 4096);
            remote.Write<uint>(100, 0x600dcafe);
            Assert.Equal(0x600dcafeu, mine.Read<uint>(100));
        }
    }

    [Fact]
    public void MoreDescriptorsThanAllowedAreAllClosedAndReported()
    {
        var (a, b) = UnixSocket.CreatePair();
        using (a)
        using (b)
        {
            using SafeFd memfd = UniqueMemFd(out string target);
            a.Send("xyz"u8, [memfd, memfd, memfd]);

            using var fds = new ReceivedFds(2);
            var buffer = new byte[8];
            Assert.Equal(3, b.Receive(buffer, fds)); // the data still arrives
            Assert.Equal(FdTransferStatus.TooManyFds, fds.Status);
            Assert.Equal(0, fds.Count);
            Assert.Equal(3, fds.DiscardedCount);
            Assert.Equal(1, CountDescriptorsOf(target));
        }
    }

    [Fact]
    public void DescriptorsWithNoRoomAreClosed()
    {
        var (a, b) = UnixSocket.CreatePair();
        using (a)
        using (b)
        {
            using SafeFd memfd = UniqueMemFd(out string target);
            a.Send("x"u8, [memfd]);
            using var none = new ReceivedFds(0);
            Assert.Equal(1, b.Receive(new byte[1], none));
            Assert.Equal(FdTransferStatus.TooManyFds, none.Status);
            Assert.Equal(1, none.DiscardedCount);
            Assert.Equal(1, CountDescriptorsOf(target));
        }
    }

    [Fact]
    public void TruncatedControlDataClosesEverything()
    {
        var (a, b) = UnixSocket.CreatePair();
        using (a)
        using (b)
        {
            using SafeFd memfd = UniqueMemFd(out string target);
            a.Send("ab"u8, [memfd, memfd, memfd, memfd]);

            using var fds = new ReceivedFds(16);
            // Room for two descriptors only: the kernel installs those and sets MSG_CTRUNC.
            Assert.True(b.TryReceiveCore(new byte[2], fds, Interop.Cmsg.Space(2 * sizeof(int)), out int n));
            Assert.Equal(2, n);
            Assert.Equal(FdTransferStatus.ControlTruncated, fds.Status);
            Assert.Equal(0, fds.Count);
            Assert.Equal(2, fds.DiscardedCount);
            Assert.Equal(1, CountDescriptorsOf(target));

            fds.Clear();
            Assert.Equal(FdTransferStatus.Ok, fds.Status);
        }
    }

    [Fact]
    public void PartialReadsDeliverDescriptorsWithTheFirstByte()
    {
        var (a, b) = UnixSocket.CreatePair();
        using (a)
        using (b)
        {
            using var e = new EventFd();
            a.SendAll("0123456789"u8, [e.Handle]);
            a.SendAll("ABC"u8);

            using var fds = new ReceivedFds(4);
            var small = new byte[4];
            Assert.Equal(4, b.Receive(small, fds));
            Assert.Equal("0123"u8.ToArray(), small);
            Assert.Equal(1, fds.Count);
            Assert.Equal(4, b.Receive(small, fds));
            Assert.Equal("4567"u8.ToArray(), small);
            Assert.Equal(1, fds.Count); // appended nothing, kept the first

            var rest = new byte[16];
            int total = 0;
            while (total < 5)
            {
                total += b.Receive(rest.AsSpan(total), fds);
            }

            Assert.Equal("89ABC"u8.ToArray(), rest[..5]);
            Assert.Equal(1, fds.Count);
        }
    }

    [Fact]
    public void SeparateMessagesAppendUntilCleared()
    {
        var (a, b) = UnixSocket.CreatePair();
        using (a)
        using (b)
        {
            using var e = new EventFd();
            a.Send("1"u8, [e.Handle]);
            using var fds = new ReceivedFds(4);
            b.Receive(new byte[1], fds);
            a.Send("2"u8, [e.Handle, e.Handle]);
            b.Receive(new byte[1], fds);
            Assert.Equal(3, fds.Count);
            SafeFd taken = fds.Take(1);
            Assert.Throws<InvalidOperationException>(() => fds[1]);
            fds.Clear();
            Assert.Equal(0, fds.Count);
            Assert.False(taken.IsClosed);
            taken.Dispose();
        }
    }

    [Fact]
    public void EndOfStreamAndShutdown()
    {
        var (a, b) = UnixSocket.CreatePair();
        using (b)
        {
            using var fds = new ReceivedFds(0);
            a.Send("z"u8);
            a.Shutdown(ShutdownMode.Send);
            Assert.Equal(1, b.Receive(new byte[8], fds));
            Assert.Equal(0, b.Receive(new byte[8], fds));
            a.Dispose();
            var ex = Assert.Throws<LinuxException>(() => b.Send("x"u8));
            Assert.Equal("EPIPE", ex.ErrorName);
        }
    }

    [Fact]
    public void TryReceiveNowNeverBlocksABlockingSocketAndTakesWhatIsWaitingWithItsFds()
    {
        var (a, b) = UnixSocket.CreatePair();
        using (a)
        using (b)
        {
            Assert.False(b.IsNonBlocking);
            using var fds = new ReceivedFds(2);
            var buffer = new byte[8];
            Assert.False(b.TryReceiveNow(buffer, fds, out int n)); // nothing waiting: returns instead of blocking
            Assert.Equal(0, n);
            Assert.False(b.IsNonBlocking, "the socket itself stays blocking");

            using var e = new EventFd();
            a.SendAll("ping"u8, [e.Handle]);
            Assert.True(b.TryReceiveNow(buffer, fds, out n));
            Assert.Equal("ping"u8.ToArray(), buffer[..n]);
            Assert.Equal(1, fds.Count);

            a.Dispose();
            Assert.True(b.TryReceiveNow(buffer, fds, out n)); // end of stream is an answer too
            Assert.Equal(0, n);
        }
    }

    [Fact]
    public async Task NonBlockingSurfacesWouldBlockDistinctly()
    {
        var (a, b) = UnixSocket.CreatePair();
        using (a)
        using (b)
        {
            b.IsNonBlocking = true;
            Assert.True(b.IsNonBlocking);
            using var fds = new ReceivedFds(1);
            Assert.False(b.TryReceive(new byte[4], fds, out int n));
            Assert.Equal(0, n);
            Assert.True(Assert.Throws<LinuxException>(() => b.Receive(new byte[4], fds)).IsWouldBlock);

            // Fill the non-blocking send side until EAGAIN.
            a.IsNonBlocking = true;
            var chunk = new byte[64 * 1024];
            long queued = 0;
            while (a.TrySend(chunk, default, out int sent))
            {
                queued += sent;
            }

            Assert.True(queued > 0);
            Assert.True(Assert.Throws<LinuxException>(() => a.Send(chunk)).IsWouldBlock);

            // SendAll waits (poll) while the reader drains.
            var drain = Task.Run(() =>
            {
                b.IsNonBlocking = false;
                var buffer = new byte[64 * 1024];
                long total = 0;
                while (total < queued + 3)
                {
                    total += b.Receive(buffer, fds);
                }

                return total;
            });
            a.SendAll("end"u8);
            Assert.Equal(queued + 3, await drain.WaitAsync(TimeSpan.FromSeconds(10)));
        }
    }

    [Fact]
    public void SendValidatesArguments()
    {
        var (a, b) = UnixSocket.CreatePair();
        using (a)
        using (b)
        {
            using var e = new EventFd();
            Assert.Throws<ArgumentException>(() => a.Send(ReadOnlySpan<byte>.Empty, [e.Handle]));
            Assert.Throws<ArgumentException>(() => a.Send("x"u8, Enumerable.Repeat(e.Handle, 254).ToArray()));
            var closed = new EventFd();
            closed.Dispose();
            Assert.Throws<ObjectDisposedException>(() => a.Send("x"u8, [e.Handle, closed.Handle]));
            Assert.False(e.Handle.IsClosed); // the reference taken on the first fd was released
            e.Handle.Dispose();
            Assert.True(e.Handle.IsClosed);
        }
    }

    [Fact]
    public void PeerCredentialsAreOurs()
    {
        var (a, b) = UnixSocket.CreatePair();
        using (a)
        using (b)
        {
            PeerCredentials cred = b.GetPeerCredentials();
            Assert.Equal(Environment.ProcessId, cred.ProcessId);
        }
    }

    /// <summary>A memfd with a unique name, so that /proc/self/fd tells its descriptors apart.</summary>
    private static SafeFd UniqueMemFd(out string linkTarget)
    {
        string name = "pk-" + Guid.NewGuid().ToString("N");
        SafeFd fd = SharedMemory.CreateMemFd(name, 4096);
        linkTarget = new FileInfo($"/proc/self/fd/{TestSupport.RawFd(fd)}").LinkTarget!;
        Assert.Contains(name, linkTarget, StringComparison.Ordinal);
        return fd;
    }

    /// <summary>How many descriptors of this process refer to the file shown as <paramref name="linkTarget"/>.</summary>
    private static int CountDescriptorsOf(string linkTarget) => FdSnapshot.Take().Values.Count(target => target == linkTarget);
}
