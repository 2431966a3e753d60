using System.Diagnostics;

namespace PciKit.VfioUserLoad;

/// <summary>The C# echo floor: same shape as bench/echo/echo.c (32-byte request, 36-byte reply, one recv + one send per request).</summary>
internal static unsafe class Echo
{
    public static void Server(string path)
    {
        int ls = Native.Listen(path);
        int s = Native.accept(ls, null, null);
        if (s < 0) Native.Fail("accept");
        Native.close(ls);
        File.Delete(path);
        byte* buf = stackalloc byte[36];
        uint n = 0;
        while (true)
        {
            nint r = Native.recv(s, buf, 32, Native.MSG_WAITALL);
            if (r == 0) break;
            if (r != 32) Native.Fail("recv");
            *(uint*)(buf + 32) = n++;
            if (Native.send(s, buf, 36, Native.MSG_NOSIGNAL) != 36) Native.Fail("send");
        }
        Native.close(s);
    }

    public static Stats.Latency Client(string path, int n, int k, int w)
    {
        int s = Native.Connect(path);
        int total = n + w;
        var sent = new long[total];
        var lat = new long[n];
        byte* req = stackalloc byte[32];
        byte* rep = stackalloc byte[36];
        new Span<byte>(req, 32).Clear();
        *(ushort*)(req + 2) = 9;
        *(uint*)(req + 4) = 32;
        int next = 0, done = 0;
        long t0 = 0;
        while (next < total && next < k) SendOne(ref next);
        while (done < total)
        {
            Native.RecvExactly(s, rep, 36);
            long t = Stopwatch.GetTimestamp();
            if (*(uint*)(rep + 8) != (uint)done) throw new IOException("echo reply out of order");
            if (done >= w) lat[done - w] = t - sent[done];
            if (done == w) t0 = sent[done];
            done++;
            if (next < total) SendOne(ref next);
        }
        long t1 = Stopwatch.GetTimestamp();
        Native.close(s);
        return Stats.Summarize(lat, t1 - t0);

        void SendOne(ref int i)
        {
            *(uint*)(req + 8) = (uint)i;
            sent[i] = Stopwatch.GetTimestamp();
            if (Native.send(s, req, 32, Native.MSG_NOSIGNAL) != 32) Native.Fail("send");
            i++;
        }
    }
}
