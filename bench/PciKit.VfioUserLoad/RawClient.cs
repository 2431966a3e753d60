using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace PciKit.VfioUserLoad;

/// <summary>
/// A vfio-user client built from raw bytes (BinaryPrimitives over libc send/recv): no PciKit code on this side, so the
/// figures are the server's. Replies are read with one recv of the exact reply size, as the echo floor does.
/// </summary>
internal sealed unsafe class RawClient : IDisposable
{
    public const int Header = 16;
    public const ushort CmdVersion = 1, CmdDmaMap = 2, CmdDmaUnmap = 3, CmdRegionRead = 9, CmdRegionWrite = 10, CmdDmaRead = 11, CmdDmaWrite = 12;
    public const uint Bar0 = 0, ConfigRegion = 7;

    private readonly int _fd;
    private readonly byte[] _tx = new byte[4096];
    private readonly byte[] _rx = new byte[4096];
    private ushort _id;

    public RawClient(string socketPath, uint maxDataTransfer = 1 << 20)
    {
        _fd = Native.Connect(socketPath);
        // VERSION 0.0 with our capabilities.
        var json = Encoding.ASCII.GetBytes($"{{\"capabilities\":{{\"max_msg_fds\":8,\"max_data_xfer_size\":{maxDataTransfer}}}}}\0");
        var payload = new byte[4 + json.Length];
        json.CopyTo(payload, 4);
        var reply = Call(CmdVersion, payload);
        if (reply.Length < 4 || BinaryPrimitives.ReadUInt16LittleEndian(reply) != 0) throw new IOException("VERSION refused");
        // Memory decoding and bus mastering on (Command register, config offset 4).
        RegionWrite(ConfigRegion, 4, 2, 0x6);
    }

    public int Fd => _fd;

    private static void WriteHeader(Span<byte> b, ushort id, ushort cmd, int size, uint flags = 0)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(b, id);
        BinaryPrimitives.WriteUInt16LittleEndian(b[2..], cmd);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], (uint)size);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], 0);
    }

    /// <summary>Setup-path request/reply (header read, then payload); throws on an error reply.</summary>
    public byte[] Call(ushort cmd, ReadOnlySpan<byte> payload, int passFd = -1)
    {
        ushort id = ++_id;
        var msg = new byte[Header + payload.Length];
        WriteHeader(msg, id, cmd, msg.Length);
        payload.CopyTo(msg.AsSpan(Header));
        Native.SendGather(_fd, msg, null, 0, passFd);
        Span<byte> h = stackalloc byte[Header];
        Native.RecvExactly(_fd, h);
        int size = (int)BinaryPrimitives.ReadUInt32LittleEndian(h[4..]);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
        var body = new byte[size - Header];
        Native.RecvExactly(_fd, body);
        if (BinaryPrimitives.ReadUInt16LittleEndian(h) != id || (flags & 0xF) != 1) throw new IOException($"cmd {cmd}: unexpected message (id {BinaryPrimitives.ReadUInt16LittleEndian(h)}, flags 0x{flags:x})");
        if ((flags & 0x20) != 0) throw new IOException($"cmd {cmd}: error reply, errno {BinaryPrimitives.ReadUInt32LittleEndian(h[12..])}");
        return body;
    }

    public void RegionWrite(uint region, ulong offset, int count, ulong value)
    {
        Span<byte> p = stackalloc byte[16 + count];
        BinaryPrimitives.WriteUInt64LittleEndian(p, offset);
        BinaryPrimitives.WriteUInt32LittleEndian(p[8..], region);
        BinaryPrimitives.WriteUInt32LittleEndian(p[12..], (uint)count);
        for (int i = 0; i < count; i++) p[16 + i] = (byte)(value >> (8 * i));
        Call(CmdRegionWrite, p);
    }

    public ulong RegionRead(uint region, ulong offset, int count)
    {
        Span<byte> p = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(p, offset);
        BinaryPrimitives.WriteUInt32LittleEndian(p[8..], region);
        BinaryPrimitives.WriteUInt32LittleEndian(p[12..], (uint)count);
        var r = Call(CmdRegionRead, p);
        ulong v = 0;
        for (int i = 0; i < count; i++) v |= (ulong)r[16 + i] << (8 * i);
        return v;
    }

    public void DmaMap(ulong iova, ulong size, int fd)
    {
        Span<byte> p = stackalloc byte[32];
        BinaryPrimitives.WriteUInt32LittleEndian(p, 32);
        BinaryPrimitives.WriteUInt32LittleEndian(p[4..], 3);
        BinaryPrimitives.WriteUInt64LittleEndian(p[8..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(p[16..], iova);
        BinaryPrimitives.WriteUInt64LittleEndian(p[24..], size);
        Call(CmdDmaMap, p, fd);
    }

    /// <summary>
    /// N timed 4-byte BAR0 accesses (after W warm-up) with K in flight; latency from send to the reply received. The
    /// request is prebuilt; only msg_id changes.
    /// </summary>
    public Stats.Latency AccessLoop(bool write, int n, int k, int w)
    {
        int reqSize = write ? 36 : 32, repSize = write ? 32 : 36;
        var req = _tx.AsSpan(0, reqSize);
        WriteHeader(req, 0, write ? CmdRegionWrite : CmdRegionRead, reqSize);
        BinaryPrimitives.WriteUInt64LittleEndian(req[16..], BenchDevice.RegScratch);
        BinaryPrimitives.WriteUInt32LittleEndian(req[24..], Bar0);
        BinaryPrimitives.WriteUInt32LittleEndian(req[28..], 4);
        if (write) BinaryPrimitives.WriteUInt32LittleEndian(req[32..], 0x1234_5678);
        int total = n + w;
        var sent = new long[total];
        var lat = new long[n];
        int next = 0, done = 0;
        long t0 = 0;
        fixed (byte* txFixed = _tx)
        fixed (byte* rx = _rx)
        {
            byte* tx = txFixed;
            while (next < total && next < k) SendOne(ref next);
            while (done < total)
            {
                Native.RecvExactly(_fd, rx, (nuint)repSize);
                long t = Stopwatch.GetTimestamp();
                ushort id = *(ushort*)rx;
                uint size = *(uint*)(rx + 4), flags = *(uint*)(rx + 8);
                if (id != (ushort)done || size != repSize || flags != 1)
                    throw new IOException($"reply {done}: id {id} size {size} flags 0x{flags:x} errno {*(uint*)(rx + 12)}");
                if (done >= w) lat[done - w] = t - sent[done];
                if (done == w) t0 = sent[done];
                done++;
                if (next < total) SendOne(ref next);
            }
            long t1 = Stopwatch.GetTimestamp();
            return Stats.Summarize(lat, t1 - t0);

            void SendOne(ref int i)
            {
                *(ushort*)tx = (ushort)i;
                sent[i] = Stopwatch.GetTimestamp();
                Native.SendAll(_fd, new ReadOnlySpan<byte>(tx, reqSize));
                i++;
            }
        }
    }

    /// <summary>
    /// Starts a device DMA of count × chunk bytes at <paramref name="iova"/> (direction 1: the device reads memory,
    /// 2: it writes memory) and serves the DMA_READ/DMA_WRITE messages that arrive before the doorbell's reply, from/to
    /// <paramref name="guest"/> (which backs [guestIova, +guestSize)). Returns the DMA messages served.
    /// </summary>
    public int Dma(int direction, ulong iova, byte* guest, ulong guestIova, ulong guestSize)
    {
        ushort id = ++_id;
        var go = _tx.AsSpan(0, 36);
        WriteHeader(go, id, CmdRegionWrite, 36);
        BinaryPrimitives.WriteUInt64LittleEndian(go[16..], BenchDevice.RegDmaGo);
        BinaryPrimitives.WriteUInt32LittleEndian(go[24..], Bar0);
        BinaryPrimitives.WriteUInt32LittleEndian(go[28..], 4);
        BinaryPrimitives.WriteUInt32LittleEndian(go[32..], (uint)direction);
        Native.SendAll(_fd, go);
        int messages = 0;
        Span<byte> reply = stackalloc byte[32];
        fixed (byte* rx = _rx)
        {
            while (true)
            {
                Native.RecvExactly(_fd, rx, 32); // every message that can arrive here is ≥ 32 bytes
                ushort mid = *(ushort*)rx, cmd = *(ushort*)(rx + 2);
                uint size = *(uint*)(rx + 4), flags = *(uint*)(rx + 8);
                if ((flags & 0xF) == 1)
                {
                    if (mid != id || cmd != CmdRegionWrite || size != 32 || flags != 1) throw new IOException($"doorbell reply: id {mid} cmd {cmd} size {size} flags 0x{flags:x}");
                    return messages;
                }
                ulong addr = *(ulong*)(rx + 16), count = *(ulong*)(rx + 24);
                if (addr < guestIova || count > guestSize || addr - guestIova > guestSize - count) throw new IOException($"DMA outside the window: {addr:x}+{count:x}");
                byte* at = guest + (addr - guestIova);
                messages++;
                if (cmd == CmdDmaWrite)
                {
                    if (size != 32 + count) throw new IOException("DMA_WRITE size mismatch");
                    Native.RecvExactly(_fd, at, (nuint)count); // straight into guest memory
                    WriteHeader(reply, mid, CmdDmaWrite, 32, 1);
                    BinaryPrimitives.WriteUInt64LittleEndian(reply[16..], addr);
                    BinaryPrimitives.WriteUInt64LittleEndian(reply[24..], count);
                    Native.SendAll(_fd, reply);
                }
                else if (cmd == CmdDmaRead)
                {
                    if (size != 32) throw new IOException("DMA_READ size mismatch");
                    WriteHeader(reply, mid, CmdDmaRead, 32 + (int)count, 1);
                    BinaryPrimitives.WriteUInt64LittleEndian(reply[16..], addr);
                    BinaryPrimitives.WriteUInt64LittleEndian(reply[24..], count);
                    Native.SendGather(_fd, reply, at, (nuint)count); // straight from guest memory
                }
                else throw new IOException($"unexpected command {cmd} from the server");
            }
        }
    }

    /// <summary>
    /// Framing self-test for a read-ahead server: pipelines region reads around a DMA_MAP that carries an fd and one
    /// that does not, and a request the server must refuse, without waiting; then checks every reply and that each
    /// window got the right backing (the fd one is copied into directly, the other produces DMA messages).
    /// </summary>
    public string SelfTest(int memFd, byte* shared, byte* plain, ulong size)
    {
        var burst = new List<byte[]>();
        byte[] Msg(ushort cmd, ReadOnlySpan<byte> payload)
        {
            var m = new byte[Header + payload.Length];
            WriteHeader(m, ++_id, cmd, m.Length);
            payload.CopyTo(m.AsSpan(Header));
            return m;
        }
        byte[] Read(uint region, ulong offset)
        {
            var p = new byte[16];
            BinaryPrimitives.WriteUInt64LittleEndian(p, offset);
            BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(8), region);
            BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(12), 4);
            return Msg(CmdRegionRead, p);
        }
        byte[] Map(ulong iova)
        {
            var p = new byte[32];
            BinaryPrimitives.WriteUInt32LittleEndian(p, 32);
            BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(4), 3);
            BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(16), iova);
            BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(24), size);
            return Msg(CmdDmaMap, p);
        }
        const ulong FdIova = 0x7000_0000, PlainIova = 0x9000_0000;
        var expect = new List<(ushort Id, bool Error)>();
        void Queue(byte[] m, bool error = false) { burst.Add(m); expect.Add((BinaryPrimitives.ReadUInt16LittleEndian(m), error)); }
        for (int i = 0; i < 3; i++) Queue(Read(Bar0, 0));
        var fdMap = Map(FdIova);
        Queue(fdMap);
        Queue(Read(Bar0, 0));
        Queue(Read(42, 0), error: true);  // no such region
        Queue(Map(PlainIova));              // no fd: a message window
        Queue(Read(ConfigRegion, 0));
        // Send everything back to back; the fd rides on the DMA_MAP's first byte.
        foreach (var m in burst)
        {
            if (ReferenceEquals(m, fdMap)) Native.SendGather(_fd, m, null, 0, memFd);
            else Native.SendAll(_fd, m);
        }
        Span<byte> h = stackalloc byte[Header];
        foreach (var (id, error) in expect)
        {
            Native.RecvExactly(_fd, h);
            int msgSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(h[4..]);
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
            var body = new byte[msgSize - Header];
            Native.RecvExactly(_fd, body);
            if (BinaryPrimitives.ReadUInt16LittleEndian(h) != id || ((flags & 0x20) != 0) != error)
                throw new IOException($"selftest: reply to {id}: id {BinaryPrimitives.ReadUInt16LittleEndian(h)} flags 0x{flags:x} errno {BinaryPrimitives.ReadUInt32LittleEndian(h[12..])}");
        }
        // The fd window: the device writes straight into the shared memory (no messages).
        RegionWrite(Bar0, BenchDevice.RegDmaChunk, 4, 4096);
        RegionWrite(Bar0, BenchDevice.RegDmaCount, 4, 4);
        RegionWrite(Bar0, BenchDevice.RegDmaAddress, 8, FdIova);
        new Span<byte>(shared, 16384).Clear();
        int fdMessages = Dma(2, FdIova, shared, FdIova, size);
        if (fdMessages != 0 || shared[1] != 10 || shared[16383] != unchecked((byte)(16383 * 7 + 3))) throw new IOException($"selftest: fd window wrong ({fdMessages} messages, byte {shared[1]})");
        RegionWrite(Bar0, BenchDevice.RegDmaAddress, 8, PlainIova);
        int plainMessages = Dma(2, PlainIova, plain, PlainIova, size);
        if (plainMessages != 4 || plain[1] != 10) throw new IOException($"selftest: message window wrong ({plainMessages} messages)");
        return $"selftest=ok replies={expect.Count} fd_window_msgs={fdMessages} plain_window_msgs={plainMessages}";
    }

    public void Dispose() => Native.close(_fd);
}
