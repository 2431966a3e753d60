using System.Runtime.InteropServices;

namespace PciKit.VfioUserLoad;

/// <summary>The few libc calls the raw client and the C# echo floor need (no PciKit transport code on the client side).</summary>
internal static unsafe partial class Native
{
    public const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000;
    public const int MSG_WAITALL = 0x100, MSG_NOSIGNAL = 0x4000;
    public const int SOL_SOCKET = 1, SO_RCVTIMEO = 20, SCM_RIGHTS = 1;
    public const int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1, MAP_POPULATE = 0x8000;
    public const int EINTR = 4;

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec { public void* Base; public nuint Length; }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name; public uint NameLength; public IoVec* Iov; public nuint IovLength;
        public void* Control; public nuint ControlLength; public int Flags;
    }

    [LibraryImport("libc", SetLastError = true)] public static partial int socket(int domain, int type, int protocol);
    [LibraryImport("libc", SetLastError = true)] public static partial int connect(int fd, byte* addr, uint len);
    [LibraryImport("libc", SetLastError = true)] public static partial int bind(int fd, byte* addr, uint len);
    [LibraryImport("libc", SetLastError = true)] public static partial int listen(int fd, int backlog);
    [LibraryImport("libc", SetLastError = true)] public static partial int accept(int fd, void* addr, void* len);
    [LibraryImport("libc", SetLastError = true)] public static partial nint send(int fd, void* buf, nuint len, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial nint recv(int fd, void* buf, nuint len, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial nint sendmsg(int fd, MsgHdr* msg, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial int close(int fd);
    [LibraryImport("libc", SetLastError = true)] public static partial int setsockopt(int fd, int level, int name, void* value, uint len);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] public static partial int memfd_create(string name, uint flags);
    [LibraryImport("libc", SetLastError = true)] public static partial int ftruncate(int fd, long length);
    [LibraryImport("libc", SetLastError = true)] public static partial void* mmap(void* addr, nuint length, int prot, int flags, int fd, long offset);

    private static void Address(string path, Span<byte> sa, out uint len)
    {
        sa.Clear();
        sa[0] = AF_UNIX;
        int n = System.Text.Encoding.UTF8.GetBytes(path, sa[2..]);
        len = (uint)(2 + n + 1);
    }

    public static int Connect(string path, int attempts = 1000)
    {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) Fail("socket");
        Span<byte> sa = stackalloc byte[110];
        Address(path, sa, out uint len);
        fixed (byte* p = sa)
        {
            for (int i = 0; connect(fd, p, len) != 0; i++)
            {
                if (i >= attempts) Fail($"connect {path}");
                Thread.Sleep(5);
            }
        }
        var tv = stackalloc long[2] { 10, 0 }; // 10 s receive timeout: a protocol mistake fails instead of hanging
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
        // Opt-in (not used by run-all): a larger send buffer on the client, as an experiment on message DMA.
        if (int.TryParse(Environment.GetEnvironmentVariable("VFIO_BENCH_CLIENT_SNDBUF"), out int sndbuf) && sndbuf > 0)
            setsockopt(fd, SOL_SOCKET, 7 /* SO_SNDBUF */, &sndbuf, 4);
        return fd;
    }

    public static int Listen(string path)
    {
        File.Delete(path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        Span<byte> sa = stackalloc byte[110];
        Address(path, sa, out uint len);
        fixed (byte* p = sa)
            if (bind(fd, p, len) != 0 || listen(fd, 1) != 0) Fail($"listen {path}");
        return fd;
    }

    public static void SendAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                nint n = send(fd, p + done, (nuint)(data.Length - done), MSG_NOSIGNAL);
                if (n < 0) { if (Marshal.GetLastPInvokeError() == EINTR) continue; Fail("send"); }
                done += (int)n;
            }
        }
    }

    /// <summary>Sends two pieces as one message (writev-style), with an optional fd on the first byte.</summary>
    public static void SendGather(int fd, ReadOnlySpan<byte> head, byte* body, nuint bodyLength, int passFd = -1)
    {
        fixed (byte* h = head)
        {
            var iov = stackalloc IoVec[2];
            iov[0] = new IoVec { Base = h, Length = (nuint)head.Length };
            iov[1] = new IoVec { Base = body, Length = bodyLength };
            var control = stackalloc byte[24];
            var msg = new MsgHdr { Iov = iov, IovLength = bodyLength > 0 ? 2u : 1u };
            if (passFd >= 0)
            {
                new Span<byte>(control, 24).Clear();
                *(ulong*)control = 20; // cmsg_len = CMSG_LEN(4)
                *(int*)(control + 8) = SOL_SOCKET;
                *(int*)(control + 12) = SCM_RIGHTS;
                *(int*)(control + 16) = passFd;
                msg.Control = control;
                msg.ControlLength = 24;
            }
            nuint total = (nuint)head.Length + bodyLength, sent = 0;
            while (sent < total)
            {
                nint n = sendmsg(fd, &msg, MSG_NOSIGNAL);
                if (n < 0) { if (Marshal.GetLastPInvokeError() == EINTR) continue; Fail("sendmsg"); }
                sent += (nuint)n;
                msg.Control = null; msg.ControlLength = 0;
                // advance the iovecs past what was sent
                nuint skip = (nuint)n;
                while (msg.IovLength > 0 && skip >= msg.Iov[0].Length) { skip -= msg.Iov[0].Length; msg.Iov++; msg.IovLength--; }
                if (msg.IovLength > 0) { msg.Iov[0].Base = (byte*)msg.Iov[0].Base + skip; msg.Iov[0].Length -= skip; }
            }
        }
    }

    public static void RecvExactly(int fd, byte* buf, nuint length)
    {
        nuint done = 0;
        while (done < length)
        {
            nint n = recv(fd, buf + done, length - done, MSG_WAITALL);
            if (n == 0) throw new IOException("peer closed the connection");
            if (n < 0) { if (Marshal.GetLastPInvokeError() == EINTR) continue; Fail("recv"); }
            done += (nuint)n;
        }
    }

    public static void RecvExactly(int fd, Span<byte> buf)
    {
        fixed (byte* p = buf) RecvExactly(fd, p, (nuint)buf.Length);
    }

    public static (int Fd, nint Address) CreateSharedMemory(long size)
    {
        int fd = memfd_create("vfio-bench-guest", 1 /* MFD_CLOEXEC */);
        if (fd < 0 || ftruncate(fd, size) != 0) Fail("memfd");
        void* p = mmap(null, (nuint)size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
        if ((nint)p == -1) Fail("mmap");
        return (fd, (nint)p);
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static void Fail(string what) => throw new IOException($"{what}: errno {Marshal.GetLastPInvokeError()}");
}
