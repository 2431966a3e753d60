using PciKit.Testing;
using PciKit.Linux;
using PciKit.QemuProxy.Protocol;

namespace PciKit.QemuProxy.Tests;

/// <summary>What QEMU's side could send wrong: logged and counted; the link keeps serving while the stream is in step.</summary>
[Collection(FdCountingCollection.Name)]
public sealed class MalformedMessageTests
{
    [Theory]
    [InlineData((int)MpqemuCommand.PciConfigRead, 8)]
    [InlineData((int)MpqemuCommand.PciConfigWrite, 16)]
    [InlineData((int)MpqemuCommand.BarRead, 12)]
    [InlineData((int)MpqemuCommand.BarWrite, 192)]
    [InlineData((int)MpqemuCommand.DeviceReset, 8)]
    public void RequestWithTheWrongSizeIsAnsweredAllOnes(int commandNumber, int size)
    {
        var command = (MpqemuCommand)commandNumber;
        using var qemu = FakeQemu.WithEdu();
        Assert.Equal(ulong.MaxValue, qemu.Request(command, new byte[size]));
        Assert.Equal(1, qemu.Proxy.Counters.MalformedCount);
        Assert.Equal(0, qemu.Device.Counters.ResetCount);
        Assert.Equal(0x1234u, qemu.ConfigRead(0, 2));
        Assert.True(qemu.Log.Contains("the data size is wrong"));
    }

    [Fact]
    public void RequestCarryingFdsIsAnsweredAllOnesAndTheFdsClosed()
    {
        using var qemu = FakeQemu.WithEdu();
        using var stray = new EventFd();
        var before = FdSnapshot.Settle();
        Assert.Equal(ulong.MaxValue, qemu.Request(MpqemuCommand.BarRead, FakeQemu.BarData(0xfe00_0000, 0, 4, true), [stray.Handle]));
        FdSnapshot.AssertReturnsTo(before);
        Assert.Equal(0x1234u, qemu.ConfigRead(0, 2));
    }

    [Fact]
    public void SetIrqfdWithOneFdIsIgnoredAndClosed()
    {
        using var qemu = FakeQemu.WithEdu();
        using var one = new EventFd();
        var before = FdSnapshot.Settle();
        qemu.Send((int)MpqemuCommand.SetIrqfd, [], [one.Handle]);
        Assert.True(qemu.Quiet());
        Assert.Equal(0x1234u, qemu.ConfigRead(0, 2));
        FdSnapshot.AssertReturnsTo(before);
        Assert.Equal(1, qemu.Proxy.Counters.MalformedCount);
    }

    [Fact]
    public void SyncSysmemWithTooManyFdsClosesThemAll()
    {
        using var qemu = FakeQemu.WithEdu();
        using var ram = SharedMemory.CreateMemFd("pk-nine", 1 << 20);
        var before = FdSnapshot.Settle();
        var fds = Enumerable.Repeat(ram, 9).ToArray();
        qemu.Send((int)MpqemuCommand.SyncSysmem, new byte[192], fds);
        Assert.True(qemu.Quiet());
        Assert.Equal(0x1234u, qemu.ConfigRead(0, 2));
        FdSnapshot.AssertReturnsTo(before);
        Assert.Equal(0, FdCountingCollection.MappingCount("pk-nine"));
        Assert.Equal(1, qemu.Proxy.Counters.MalformedCount);
        Assert.Equal(0, qemu.Proxy.Counters.MemorySyncCount);
    }

    [Fact]
    public void SyncSysmemWithoutFdsOrWithTheWrongSizeIsIgnored()
    {
        using var qemu = FakeQemu.WithEdu();
        using var ram = SharedMemory.CreateMemFd("pk-short", 1 << 20);
        var before = FdSnapshot.Settle();
        qemu.Send((int)MpqemuCommand.SyncSysmem, new byte[192]);
        qemu.Send((int)MpqemuCommand.SyncSysmem, new byte[100], [ram]);
        Assert.True(qemu.Quiet());
        Assert.Equal(0x1234u, qemu.ConfigRead(0, 2));
        FdSnapshot.AssertReturnsTo(before);
        Assert.Equal(2, qemu.Proxy.Counters.MalformedCount);
    }

    [Theory]
    [InlineData(8, 12)]
    [InlineData(-1, 0)]
    [InlineData(0x7FFF_FFFF, 192)]
    [InlineData(1, 8)] // RET goes device → QEMU only
    public void UnknownOrMisdirectedCommandsAreSkipped(int command, int size)
    {
        using var qemu = FakeQemu.WithEdu();
        qemu.Send(command, new byte[size]);
        Assert.True(qemu.Quiet());
        Assert.Equal(0x11e8u, qemu.ConfigRead(2, 2));
        Assert.Equal(1, qemu.Proxy.Counters.MalformedCount);
        Assert.True(qemu.Proxy.IsRunning);
    }

    [Fact]
    public void DataLargerThanQemuAllowsClosesTheLink()
    {
        var qemu = FakeQemu.WithEdu();
        qemu.Send((int)MpqemuCommand.PciConfigRead, FakeQemu.ConfigData(0, 0, 4), announcedSize: 193);
        Assert.True(qemu.SeesHangUp());
        Assert.True(Eventually.Ended(qemu.Proxy));
        Assert.True(qemu.Log.Contains("closing the link"));
        qemu.Dispose();
    }

    [Fact]
    public void AMessageCutShortEndsTheLinkQuietly()
    {
        var qemu = FakeQemu.WithEdu();
        qemu.Send((int)MpqemuCommand.BarWrite, new byte[10], announcedSize: 24);
        qemu.Socket.Shutdown(ShutdownMode.Send);
        Assert.True(Eventually.Ended(qemu.Proxy));
        Assert.DoesNotContain(qemu.Log.Lines, l => l.StartsWith("[Error]", StringComparison.Ordinal));
        qemu.Dispose();
    }

    [Fact]
    public void MessagesSplitIntoManySmallWritesAreReassembled()
    {
        using var qemu = FakeQemu.WithEdu();
        var message = new byte[16 + 12];
        message[0] = (byte)MpqemuCommand.PciConfigRead;
        message[8] = 12;
        FakeQemu.ConfigData(0, 0, 4).CopyTo(message, 16);
        foreach (var b in message)
        {
            qemu.Socket.SendAll([b]);
            Thread.Sleep(1);
        }
        Assert.Equal(0x11e8_1234ul, qemu.ReadRet());
    }
}
