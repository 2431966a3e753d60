using System.Buffers.Binary;
using PciKit.Linux;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>vfio-user command numbers and errno values, spelled out here so that the tests do not trust the codecs they test.</summary>
internal static class Cmd
{
    public const ushort Version = 1, DmaMap = 2, DmaUnmap = 3, DeviceGetInfo = 4, GetRegionInfo = 5, GetRegionIoFds = 6,
        GetIrqInfo = 7, SetIrqs = 8, RegionRead = 9, RegionWrite = 10, DmaRead = 11, DmaWrite = 12, DeviceReset = 13,
        DirtyPages = 14, RegionWriteMulti = 15, DeviceFeature = 16, MigDataRead = 17, MigDataWrite = 18;
}

internal static class Errno
{
    public const uint ENOENT = 2, E2BIG = 7, EEXIST = 17, EINVAL = 22, ENOSPC = 28, ENOTSUP = 95;
}

/// <summary>One message as it came off the socket: the five header fields, the payload, and the fds that rode on it.</summary>
internal sealed class Message(byte[] header, byte[] payload, SafeFd[] fds) : IDisposable
{
    public byte[] HeaderBytes { get; } = header;
    public ushort Id => BinaryPrimitives.ReadUInt16LittleEndian(HeaderBytes.AsSpan(0));
    public ushort Command => BinaryPrimitives.ReadUInt16LittleEndian(HeaderBytes.AsSpan(2));
    public uint Size => BinaryPrimitives.ReadUInt32LittleEndian(HeaderBytes.AsSpan(4));
    public uint Flags => BinaryPrimitives.ReadUInt32LittleEndian(HeaderBytes.AsSpan(8));
    public uint Errno => BinaryPrimitives.ReadUInt32LittleEndian(HeaderBytes.AsSpan(12));
    public byte[] Payload { get; } = payload;
    public SafeFd[] Fds { get; } = fds;
    public bool IsCommand => (Flags & 0xF) == 0;

    public uint U32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(Payload.AsSpan(offset));
    public ulong U64(int offset) => BinaryPrimitives.ReadUInt64LittleEndian(Payload.AsSpan(offset));

    public void Dispose()
    {
        foreach (var fd in Fds) fd.Dispose();
    }
}

/// <summary>
/// A vfio-user client that speaks raw bytes: it frames what the test built, reads whole messages with their fds, and,
/// while it waits for a reply, answers the DMA_READ/DMA_WRITE commands the server sends (from <see cref="DmaMemory"/>).
/// Every wait is bounded by <see cref="HangGuard"/>.
/// </summary>
internal sealed class RawClient : IDisposable
{
    public static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(15);

    public const string QemuVersionJson =
        "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,\"max_dma_maps\":65535,\"pgsizes\":4096," +
        "\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":1048576},\"write_multiple\":true}}";

    private readonly UnixSocket _socket;
    private readonly ReceivedFds _fds = new(32);
    private ushort _nextId = 1;

    private RawClient(UnixSocket socket) => _socket = socket;

    public static RawClient Connect(string path) => new(UnixSocket.Connect(path));

    public UnixSocket Socket => _socket;

    /// <summary>Client memory served to DMA_READ/DMA_WRITE: bytes at <see cref="DmaBase"/>.</summary>
    public byte[]? DmaMemory { get; set; }
    public ulong DmaBase { get; set; }

    /// <summary>The DMA commands the server sent: (cmd, address, count).</summary>
    public List<(ushort Command, ulong Address, ulong Count)> DmaRequests { get; } = [];

    public ushort NextId() => _nextId++;

    /// <summary>A 16-byte header followed by <paramref name="payload"/>; msg_size is header + payload unless <paramref name="sizeOverride"/>.</summary>
    public static byte[] Frame(ushort id, ushort command, ReadOnlySpan<byte> payload, uint flags = 0, uint? sizeOverride = null)
    {
        var bytes = new byte[16 + payload.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(0), id);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2), command);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), sizeOverride ?? (uint)bytes.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), 0);
        payload.CopyTo(bytes.AsSpan(16));
        return bytes;
    }

    public void SendRaw(ReadOnlySpan<byte> bytes, ReadOnlySpan<SafeFd> fds = default) => _socket.SendAll(bytes, fds);

    /// <summary>Sends a command; returns its msg_id.</summary>
    public ushort Send(ushort command, ReadOnlySpan<byte> payload, uint flags = 0, ReadOnlySpan<SafeFd> fds = default)
    {
        ushort id = NextId();
        SendRaw(Frame(id, command, payload, flags), fds);
        return id;
    }

    /// <summary>Sends a command and returns its reply (success or error), serving DMA commands meanwhile.</summary>
    public Message Call(ushort command, ReadOnlySpan<byte> payload, ReadOnlySpan<SafeFd> fds = default)
        => ReadReply(Send(command, payload, 0, fds), command);

    /// <summary>Like <see cref="Call"/>, and asserts that the reply is a success.</summary>
    public Message CallOk(ushort command, ReadOnlySpan<byte> payload, ReadOnlySpan<SafeFd> fds = default)
    {
        var reply = Call(command, payload, fds);
        Assert.True((reply.Flags & 0x20) == 0, $"command {command} failed with errno {reply.Errno}");
        Assert.Equal(1u, reply.Flags);
        Assert.Equal(0u, reply.Errno);
        return reply;
    }

    /// <summary>Sends a command and asserts the bare error reply: 16 bytes, id and cmd echoed, flags 0x21, errno.</summary>
    public void CallExpectError(ushort command, ReadOnlySpan<byte> payload, uint errno, ReadOnlySpan<SafeFd> fds = default)
    {
        using var reply = Call(command, payload, fds);
        AssertError(reply, command, errno);
    }

    public static void AssertError(Message reply, ushort command, uint errno)
    {
        Assert.Equal(command, reply.Command);
        Assert.Equal(0x21u, reply.Flags);
        Assert.Equal(errno, reply.Errno);
        Assert.Equal(16u, reply.Size);
        Assert.Empty(reply.Payload);
        Assert.Empty(reply.Fds);
    }

    /// <summary>Reads messages until the reply to <paramref name="id"/> arrives; answers DMA commands that come first.</summary>
    public Message ReadReply(ushort id, ushort command)
    {
        while (true)
        {
            var message = Receive();
            if (message.IsCommand && message.Command is Cmd.DmaRead or Cmd.DmaWrite)
            {
                AnswerDma(message);
                continue;
            }
            Assert.Equal(1u, message.Flags & 0xF);
            Assert.Equal(id, message.Id);
            Assert.Equal(command, message.Command);
            Assert.Equal((uint)(16 + message.Payload.Length), message.Size);
            return message;
        }
    }

    /// <summary>Reads one whole message (header, payload, fds) or throws <see cref="TimeoutException"/>.</summary>
    public Message Receive()
    {
        _fds.Clear();
        var header = new byte[16];
        ReadExactly(header);
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4));
        Assert.InRange(size, 16u, 64u << 20);
        var payload = new byte[size - 16];
        ReadExactly(payload);
        var fds = new SafeFd[_fds.Count];
        for (int i = 0; i < fds.Length; i++) fds[i] = _fds.Take(i);
        return new Message(header, payload, fds);
    }

    /// <summary>True when nothing at all arrives within <paramref name="wait"/>.</summary>
    public bool StaysQuiet(TimeSpan wait) => !_socket.WaitReadable((int)wait.TotalMilliseconds);

    /// <summary>True when the server closed the connection (end of stream) within the hang guard.</summary>
    public bool WasClosedByPeer()
    {
        if (!_socket.WaitReadable((int)HangGuard.TotalMilliseconds)) return false;
        Span<byte> one = stackalloc byte[1];
        try { return _socket.Receive(one, _fds) == 0; }
        catch (LinuxException) { return true; }
    }

    private void ReadExactly(Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            if (!_socket.WaitReadable((int)HangGuard.TotalMilliseconds)) throw new TimeoutException("no message from the server within the hang guard");
            int n = _socket.Receive(buffer[done..], _fds);
            if (n == 0) throw new EndOfStreamException($"the server closed the connection after {done} of {buffer.Length} bytes");
            done += n;
        }
    }

    public void AnswerDma(Message request)
    {
        using var _ = request;
        ulong address = request.U64(0), count = request.U64(8);
        DmaRequests.Add((request.Command, address, count));
        var memory = DmaMemory ?? throw new InvalidOperationException($"the server sent DMA command {request.Command} but the test gave the client no DmaMemory");
        if (address < DmaBase || count > (ulong)memory.Length || address - DmaBase > (ulong)memory.Length - count)
        {
            SendRaw(ErrorFrame(request, 14 /* EFAULT */));
            return;
        }
        int at = (int)(address - DmaBase);
        if (request.Command == Cmd.DmaRead)
        {
            Assert.Equal(16, request.Payload.Length);
            var reply = new byte[16 + (int)count];
            BinaryPrimitives.WriteUInt64LittleEndian(reply.AsSpan(0), address);
            BinaryPrimitives.WriteUInt64LittleEndian(reply.AsSpan(8), count);
            memory.AsSpan(at, (int)count).CopyTo(reply.AsSpan(16));
            SendRaw(Frame(request.Id, Cmd.DmaRead, reply, flags: 1));
        }
        else
        {
            Assert.Equal(16 + (int)count, request.Payload.Length);
            request.Payload.AsSpan(16).CopyTo(memory.AsSpan(at));
            var reply = new byte[16];
            BinaryPrimitives.WriteUInt64LittleEndian(reply.AsSpan(0), address);
            BinaryPrimitives.WriteUInt64LittleEndian(reply.AsSpan(8), count);
            SendRaw(Frame(request.Id, Cmd.DmaWrite, reply, flags: 1));
        }
    }

    private static byte[] ErrorFrame(Message request, uint errno)
    {
        var bytes = Frame(request.Id, request.Command, [], flags: 0x21);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), errno);
        return bytes;
    }

    // ------------------------------------------------------------------ payload builders (explicit offsets)

    /// <summary>VERSION payload: u16 major, u16 minor, JSON, NUL.</summary>
    public static byte[] VersionPayload(ushort major, ushort minor, string json)
    {
        var bytes = new byte[4 + json.Length + 1];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(0), major);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2), minor);
        System.Text.Encoding.ASCII.GetBytes(json, bytes.AsSpan(4));
        return bytes;
    }

    /// <summary>VERSION 0.0 with QEMU's capabilities (or <paramref name="json"/>); asserts success.</summary>
    public void Negotiate(string json = QemuVersionJson)
    {
        using var reply = CallOk(Cmd.Version, VersionPayload(0, 0, json));
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(reply.Payload.AsSpan(0)));
    }

    /// <summary>REGION_READ/REGION_WRITE fixed part: u64 offset, u32 region, u32 count, then data.</summary>
    public static byte[] AccessPayload(uint region, ulong offset, uint count, ReadOnlySpan<byte> data = default)
    {
        var bytes = new byte[16 + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(0), offset);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), region);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), count);
        data.CopyTo(bytes.AsSpan(16));
        return bytes;
    }

    public byte[] Read(uint region, ulong offset, uint count)
    {
        using var reply = CallOk(Cmd.RegionRead, AccessPayload(region, offset, count));
        Assert.Equal(16 + (int)count, reply.Payload.Length);
        Assert.Equal(offset, reply.U64(0));
        Assert.Equal(region, reply.U32(8));
        Assert.Equal(count, reply.U32(12));
        return reply.Payload[16..];
    }

    public void Write(uint region, ulong offset, ReadOnlySpan<byte> data)
    {
        using var reply = CallOk(Cmd.RegionWrite, AccessPayload(region, offset, (uint)data.Length, data));
        Assert.Equal(16, reply.Payload.Length);
        Assert.Equal(offset, reply.U64(0));
        Assert.Equal(region, reply.U32(8));
        Assert.Equal((uint)data.Length, reply.U32(12));
    }

    public uint Read32(uint region, ulong offset) => BinaryPrimitives.ReadUInt32LittleEndian(Read(region, offset, 4));
    public ulong Read64(uint region, ulong offset) => BinaryPrimitives.ReadUInt64LittleEndian(Read(region, offset, 8));
    public ushort Read16(uint region, ulong offset) => BinaryPrimitives.ReadUInt16LittleEndian(Read(region, offset, 2));
    public byte Read8(uint region, ulong offset) => Read(region, offset, 1)[0];

    public void Write32(uint region, ulong offset, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        Write(region, offset, b);
    }

    public void Write64(uint region, ulong offset, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Write(region, offset, b);
    }

    public void Write16(uint region, ulong offset, ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        Write(region, offset, b);
    }

    /// <summary>Command register (config 0x04) ← Memory Space | Bus Master, as a driver does before touching BARs.</summary>
    public void EnableMemoryAndBusMaster() => Write16(7, 0x04, 0x0006);

    /// <summary>Offset of the capability with <paramref name="id"/>, walking the list from 0x34 through region 7.</summary>
    public int FindCapability(byte id)
    {
        int at = Read8(7, 0x34) & 0xFC;
        for (int guard = 0; at != 0 && guard < 48; guard++)
        {
            if (Read8(7, (ulong)at) == id) return at;
            at = Read8(7, (ulong)at + 1) & 0xFC;
        }
        throw new Xunit.Sdk.XunitException($"capability 0x{id:x2} not found");
    }

    /// <summary>DMA_MAP payload: u32 argsz 32, u32 flags, u64 offset, u64 addr, u64 size.</summary>
    public static byte[] DmaMapPayload(ulong address, ulong size, ulong fileOffset = 0, uint flags = 3)
    {
        var bytes = new byte[32];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(0), 32);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), fileOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16), address);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(24), size);
        return bytes;
    }

    /// <summary>DMA_UNMAP payload: u32 argsz 24, u32 flags, u64 addr, u64 size.</summary>
    public static byte[] DmaUnmapPayload(ulong address, ulong size, uint flags = 0)
    {
        var bytes = new byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(0), 24);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), address);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16), size);
        return bytes;
    }

    public void MapDma(ulong address, ulong size, SafeFd? fd = null, ulong fileOffset = 0, uint flags = 3)
    {
        using var reply = fd is null
            ? CallOk(Cmd.DmaMap, DmaMapPayload(address, size, fileOffset, flags))
            : CallOk(Cmd.DmaMap, DmaMapPayload(address, size, fileOffset, flags), [fd]);
        Assert.Empty(reply.Payload);
    }

    /// <summary>SET_IRQS payload: u32 argsz, flags, index, start, count (+ bool bytes).</summary>
    public static byte[] SetIrqsPayload(uint flags, uint index, uint start, uint count, ReadOnlySpan<byte> bools = default)
    {
        var bytes = new byte[20 + bools.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(0), (uint)bytes.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), index);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), start);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(16), count);
        bools.CopyTo(bytes.AsSpan(20));
        return bytes;
    }

    public const uint DataNone = 1, DataBool = 2, DataEventFd = 4, ActionMask = 8, ActionUnmask = 16, ActionTrigger = 32;

    /// <summary>SET_IRQS DATA_EVENTFD|ACTION_TRIGGER: attaches <paramref name="fds"/> to vectors start…</summary>
    public void AttachEventFds(uint index, uint start, params EventFd[] fds)
    {
        var handles = fds.Select(f => f.Handle).ToArray();
        using var reply = CallOk(Cmd.SetIrqs, SetIrqsPayload(DataEventFd | ActionTrigger, index, start, (uint)fds.Length), handles);
        Assert.Empty(reply.Payload);
    }

    public void Dispose()
    {
        _fds.Dispose();
        _socket.Dispose();
    }
}
