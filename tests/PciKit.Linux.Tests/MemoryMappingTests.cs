namespace PciKit.Linux.Tests;

public sealed class MemoryMappingTests
{
    private const ulong Page = 4096;

    [Fact]
    public unsafe void WriteThroughOneMappingReadThroughAnother()
    {
        using SafeFd fd = SharedMemory.CreateMemFd("map", 4 * Page);
        using var writer = MemoryMapping.Map(fd, 0, 4 * Page);
        using var reader = MemoryMapping.Map(fd, Page, 2 * Page, MappingAccess.ReadOnly);

        writer.Write<ulong>(Page + 8, 0x1122334455667788);
        writer.CopyFrom(2 * Page, "hello"u8);
        writer.GetSpan(3 * Page - 1, 1)[0] = 0xAB;

        Assert.Equal(0x1122334455667788ul, reader.Read<ulong>(8));
        Span<byte> text = stackalloc byte[5];
        reader.CopyTo(Page, text);
        Assert.True(text.SequenceEqual("hello"u8));
        Assert.Equal(0xAB, reader.GetReadOnlySpan(2 * Page - 1, 1)[0]);
        Assert.Equal(0x88, reader.Pointer[8]);
        Assert.Equal(2 * Page, reader.Length);
    }

    [Fact]
    public void UnalignedAccessesWork()
    {
        using var m = MemoryMapping.MapAnonymous(Page);
        m.Write<uint>(3, 0xdeadbeef);
        Assert.Equal(0xdeadbeefu, m.Read<uint>(3));
        Assert.Equal(0xef, m.Read<byte>(3));
    }

    [Fact]
    public void AnonymousMappingIsZeroedAndWritable()
    {
        using var m = MemoryMapping.MapAnonymous(2 * Page);
        Assert.True(m.IsWritable);
        Assert.All(m.GetReadOnlySpan(0, (int)(2 * Page)).ToArray(), b => Assert.Equal(0, b));
    }

    [Theory]
    [InlineData(Page, 1)]                 // starts at the end
    [InlineData(Page - 3, 4)]             // straddles the end
    [InlineData(Page + 1, 0)]             // empty but past the end
    [InlineData(ulong.MaxValue, 2)]       // offset + length overflows
    [InlineData(ulong.MaxValue - 1, 8)]
    public void OutOfBoundsThrows(ulong offset, int length)
    {
        using var m = MemoryMapping.MapAnonymous(Page);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.GetSpan(offset, length));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.GetReadOnlySpan(offset, length));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.CopyTo(offset, new byte[length]));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.CopyFrom(offset, new byte[length]));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.CreateView(offset, (ulong)length + 1));
        if (length >= 4)
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => m.Read<uint>(offset));
            Assert.Throws<ArgumentOutOfRangeException>(() => m.Write<uint>(offset, 1));
        }
    }

    [Fact]
    public void NegativeLengthAndEdgeReadsAreChecked()
    {
        using var m = MemoryMapping.MapAnonymous(Page);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.GetSpan(0, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Read<ulong>(Page - 7));
        m.Write<ulong>(Page - 8, 7);
        Assert.Equal(7ul, m.Read<ulong>(Page - 8));
        Assert.Equal(0, m.GetSpan(Page, 0).Length);
    }

    [Fact]
    public void MappingPastEndOfFileIsRefused()
    {
        using SafeFd fd = SharedMemory.CreateMemFd("short", Page);
        Assert.Throws<ArgumentOutOfRangeException>(() => MemoryMapping.Map(fd, 0, 2 * Page));
        Assert.Throws<ArgumentOutOfRangeException>(() => MemoryMapping.Map(fd, Page, Page));
        Assert.Throws<ArgumentException>(() => MemoryMapping.Map(fd, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => MemoryMapping.Map(fd, 0, 0));
    }

    [Fact]
    public void ReadOnlyMappingRejectsWrites()
    {
        using SafeFd fd = SharedMemory.CreateMemFd("ro", Page);
        using var m = MemoryMapping.Map(fd, 0, Page, MappingAccess.ReadOnly);
        Assert.False(m.IsWritable);
        Assert.Throws<InvalidOperationException>(() => m.Write<int>(0, 1));
        Assert.Throws<InvalidOperationException>(() => m.CopyFrom(0, new byte[1]));
        Assert.Throws<InvalidOperationException>(() => m.GetSpan(0, 1));
        Assert.Equal(0, m.Read<int>(0));
    }

    [Fact]
    public void MappingOutlivesTheDescriptor()
    {
        SafeFd fd = SharedMemory.CreateMemFd("outlive", Page);
        using var m = MemoryMapping.Map(fd, 0, Page);
        fd.Dispose();
        m.Write<int>(0, 5);
        Assert.Equal(5, m.Read<int>(0));
    }

    [Fact]
    public unsafe void EveryAccessorThrowsAfterDispose()
    {
        var m = MemoryMapping.MapAnonymous(Page);
        MappedView view = m.CreateView(Page / 2, 16);
        m.Dispose();
        m.Dispose();
        Assert.True(m.IsDisposed);
        Assert.False(view.IsValid);
        Assert.Throws<ObjectDisposedException>(() => m.GetSpan(0, 1));
        Assert.Throws<ObjectDisposedException>(() => m.GetReadOnlySpan(0, 1));
        Assert.Throws<ObjectDisposedException>(() => m.Read<int>(0));
        Assert.Throws<ObjectDisposedException>(() => m.Write<int>(0, 1));
        Assert.Throws<ObjectDisposedException>(() => m.CopyTo(0, new byte[1]));
        Assert.Throws<ObjectDisposedException>(() => m.CopyFrom(0, new byte[1]));
        Assert.Throws<ObjectDisposedException>(() => m.CreateView(0, 1));
        Assert.Throws<ObjectDisposedException>(() => (nint)m.Pointer);
        Assert.Throws<ObjectDisposedException>(() => view.Read<int>(0));
        Assert.Throws<ObjectDisposedException>(() => view.Write<int>(0, 1));
        Assert.Throws<ObjectDisposedException>(() => view.GetSpan(0, 1));
        Assert.Throws<ObjectDisposedException>(() => view.CopyTo(0, new byte[1]));
    }

    [Fact]
    public void ViewsTranslateAndBoundOffsets()
    {
        using var m = MemoryMapping.MapAnonymous(Page);
        MappedView view = m.CreateView(0x100, 0x20);
        view.Write<uint>(0x1c, 0xcafef00d);
        Assert.Equal(0xcafef00du, m.Read<uint>(0x11c));
        Assert.Throws<ArgumentOutOfRangeException>(() => view.Read<uint>(0x1d));
        Assert.Throws<ArgumentOutOfRangeException>(() => view.Read<byte>(ulong.MaxValue));
        MappedView inner = view.Slice(0x10, 0x10);
        Assert.Equal(0x110ul, inner.Offset);
        Assert.Equal(0xcafef00du, inner.Read<uint>(0xc));
        Assert.Throws<ArgumentOutOfRangeException>(() => view.Slice(0x10, 0x11));
        Assert.False(default(MappedView).IsValid);
        Assert.Throws<InvalidOperationException>(() => default(MappedView).Read<byte>(0));
    }

    [Fact]
    public async Task DisposeDuringConcurrentAccessNeverFaults()
    {
        for (int round = 0; round < 50; round++)
        {
            var m = MemoryMapping.MapAnonymous(Page);
            using var start = new Barrier(2);
            var worker = Task.Run(() =>
            {
                start.SignalAndWait();
                try
                {
                    for (ulong i = 0; ; i++)
                    {
                        m.Write(i % (Page / 8) * 8, i);
                        _ = m.Read<ulong>(i % (Page / 8) * 8);
                    }
                }
                catch (ObjectDisposedException)
                {
                    return;
                }
            });
            start.SignalAndWait();
            Thread.SpinWait(1000);
            m.Dispose();
            await worker.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }
}
