using PciKit.Testing;
using System.Buffers.Binary;
using PciKit.Device;
using PciKit.Devices.Edu;
using PciKit.Linux;
using PciKit.QemuProxy.Protocol;

namespace PciKit.QemuProxy.Tests;

/// <summary>
/// Plays QEMU's side of the link over a socketpair: builds messages byte by byte (hand-placed offsets, independent of
/// the codec under test where it matters) and waits for RET replies within a hang guard.
/// </summary>
internal sealed class FakeQemu : IDisposable
{
    public static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(10);

    public FakeQemu(PciDevice device, QemuProxyOptions? options = null)
    {
        Device = device;
        var (ours, theirs) = UnixSocket.CreatePair();
        Socket = ours;
        Proxy = QemuProxyDevice.Start(device, theirs, options ?? new QemuProxyOptions { Log = Log });
    }

    public static FakeQemu WithEdu(QemuProxyOptions? options = null) => new(new EduDevice(), options);

    public PciDevice Device { get; }
    public UnixSocket Socket { get; }
    public QemuProxyDevice Proxy { get; }
    public ListLog Log { get; } = new();

    // ---- requests, as QEMU's proxy.c sends them

    public uint ConfigRead(uint address, int length) => (uint)Request(MpqemuCommand.PciConfigRead, ConfigData(address, 0, length));

    public ulong ConfigWrite(uint address, uint value, int length) => Request(MpqemuCommand.PciConfigWrite, ConfigData(address, value, length));

    public ulong BarRead(ulong address, uint size, bool memory = true) => Request(MpqemuCommand.BarRead, BarData(address, 0, size, memory));

    public ulong BarWrite(ulong address, ulong value, uint size, bool memory = true) => Request(MpqemuCommand.BarWrite, BarData(address, value, size, memory));

    public ulong Reset() => Request(MpqemuCommand.DeviceReset, []);

    public void SyncSysmem(ReadOnlySpan<(ulong Gpa, ulong Size, long Offset)> regions, ReadOnlySpan<SafeFd> fds)
    {
        var data = new byte[192];
        for (int i = 0; i < regions.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(0 + 8 * i), regions[i].Gpa);
            BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(64 + 8 * i), regions[i].Size);
            BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(128 + 8 * i), regions[i].Offset);
        }
        Send((int)MpqemuCommand.SyncSysmem, data, fds);
    }

    public void SetIrqfd(EventFd irq, EventFd resample) => Send((int)MpqemuCommand.SetIrqfd, [], [irq.Handle, resample.Handle]);

    /// <summary>QEMU's BAR sizing probe of BAR <paramref name="index"/>: read, write all-ones, read, restore. Returns what the probe read.</summary>
    public uint ProbeBar(int index)
    {
        uint reg = (uint)(0x10 + 4 * index);
        uint original = ConfigRead(reg, 4);
        ConfigWrite(reg, 0xFFFF_FFFF, 4);
        uint probed = ConfigRead(reg, 4);
        ConfigWrite(reg, original, 4);
        return probed;
    }

    /// <summary>Places BAR0 at <paramref name="address"/> and turns on Memory Space and Bus Master, as firmware would.</summary>
    public void ProgramBar0(uint address)
    {
        ConfigWrite(0x10, address, 4);
        ConfigWrite(0x04, 0x0006, 2);
    }

    /// <summary>Sends a request and returns the RET value.</summary>
    public ulong Request(MpqemuCommand command, ReadOnlySpan<byte> data, ReadOnlySpan<SafeFd> fds = default)
    {
        Send((int)command, data, fds);
        return ReadRet();
    }

    public void Send(int command, ReadOnlySpan<byte> data, ReadOnlySpan<SafeFd> fds = default, ulong? announcedSize = null)
    {
        var message = new byte[16 + data.Length];
        BinaryPrimitives.WriteInt32LittleEndian(message, command);
        BinaryPrimitives.WriteUInt64LittleEndian(message.AsSpan(8), announcedSize ?? (ulong)data.Length);
        data.CopyTo(message.AsSpan(16));
        Socket.SendAll(message, fds);
    }

    /// <summary>Reads one RET (cmd 1, size 8) within the hang guard and returns its value.</summary>
    public ulong ReadRet()
    {
        var head = ReadExactly(16);
        Assert.Equal(1, BinaryPrimitives.ReadInt32LittleEndian(head));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(head.AsSpan(4)));
        Assert.Equal(8ul, BinaryPrimitives.ReadUInt64LittleEndian(head.AsSpan(8)));
        return BinaryPrimitives.ReadUInt64LittleEndian(ReadExactly(8));
    }

    /// <summary>True when the proxy closed the link (end of stream within the hang guard).</summary>
    public bool SeesHangUp()
    {
        if (!Socket.WaitReadable(HangGuard)) return false;
        using var fds = new ReceivedFds(8);
        try
        {
            return Socket.Receive(new byte[64], fds) == 0;
        }
        catch (LinuxException e) when (e.Errno == 104)
        {
            return true; // closed with our last message unread: ECONNRESET
        }
    }

    /// <summary>True when nothing arrives for a short while (a message that must not be answered).</summary>
    public bool Quiet() => !Socket.WaitReadable(TimeSpan.FromMilliseconds(150));

    private byte[] ReadExactly(int count)
    {
        var buffer = new byte[count];
        using var fds = new ReceivedFds(8);
        int done = 0;
        while (done < count)
        {
            Assert.True(Socket.WaitReadable(HangGuard), "no reply from the proxy within the hang guard");
            int n = Socket.Receive(buffer.AsSpan(done), fds);
            Assert.True(n > 0, "the proxy closed the link");
            done += n;
        }
        Assert.Equal(0, fds.Count);
        return buffer;
    }

    public static byte[] ConfigData(uint address, uint value, int length)
    {
        var data = new byte[12];
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(0), address);
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(4), value);
        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(8), length);
        return data;
    }

    public static byte[] BarData(ulong address, ulong value, uint size, bool memory)
    {
        var data = new byte[24];
        BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(0), address);
        BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(8), value);
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(16), size);
        data[20] = memory ? (byte)1 : (byte)0;
        return data;
    }

    public void Dispose()
    {
        Proxy.Dispose();
        Socket.Dispose();
    }
}

internal static class Eventually
{
    public static void True(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + FakeQemu.HangGuard;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"timed out waiting for {what}");
            Thread.Sleep(1);
        }
    }

    /// <summary>The eventfd was signalled within the hang guard; consumes the count.</summary>
    public static ulong Fired(EventFd fd)
    {
        Assert.True(fd.Wait(FakeQemu.HangGuard), "the eventfd was not signalled");
        return fd.Read();
    }

    /// <summary>The link ended (and released its resources) within the hang guard.</summary>
    public static bool Ended(QemuProxyDevice proxy) => proxy.Completion.Wait(FakeQemu.HangGuard);

    public static bool Quiet(EventFd fd) => !fd.Wait(TimeSpan.FromMilliseconds(150));
}

/// <summary>Tests that count this process's descriptors or mappings run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FdCountingCollection
{
    public const string Name = "qemu-proxy fd counting";

    internal static int MappingCount(string memfdName) =>
        File.ReadAllLines("/proc/self/maps").Count(l => l.Contains($"/memfd:{memfdName} ", StringComparison.Ordinal) || l.EndsWith($"/memfd:{memfdName} (deleted)", StringComparison.Ordinal));
}
