using PciKit.Linux.Interop;

namespace PciKit.Linux;

public sealed partial class UnixSocket
{
    /// <summary>
    /// One sendmsg(2): sends a prefix of <paramref name="data"/> and, attached to its first byte, all of
    /// <paramref name="fds"/>. May send fewer bytes than given; see <see cref="SendAll"/>.
    /// </summary>
    /// <param name="data">The bytes; must not be empty when <paramref name="fds"/> is not (a stream needs a byte to carry them).</param>
    /// <param name="fds">Descriptors to pass (at most 253); they stay owned by the caller, the peer gets duplicates.</param>
    /// <returns>Bytes sent (≥ 1 when <paramref name="data"/> is not empty).</returns>
    /// <exception cref="LinuxException">EAGAIN (<see cref="LinuxException.IsWouldBlock"/>) on a full non-blocking socket; EPIPE when the peer closed.</exception>
    public int Send(ReadOnlySpan<byte> data, ReadOnlySpan<SafeFd> fds = default)
    {
        if (!TrySend(data, fds, out int sent))
        {
            ThrowHelper.Throw(Errno.EAGAIN, "sendmsg");
        }

        return sent;
    }

    /// <summary>Like <see cref="Send"/>, but returns <see langword="false"/> instead of throwing EAGAIN.</summary>
    /// <param name="data">The bytes.</param>
    /// <param name="fds">Descriptors to pass with the first byte.</param>
    /// <param name="bytesSent">Bytes sent; 0 when the call would block (then no descriptor was sent either).</param>
    /// <returns><see langword="false"/> when a non-blocking socket is full.</returns>
    public unsafe bool TrySend(ReadOnlySpan<byte> data, ReadOnlySpan<SafeFd> fds, out int bytesSent)
    {
        if (fds.Length > Cmsg.MaxFds)
        {
            throw new ArgumentException($"At most {Cmsg.MaxFds} descriptors fit in one message; got {fds.Length}.", nameof(fds));
        }

        if (fds.Length > 0 && data.IsEmpty)
        {
            throw new ArgumentException("Descriptors travel with data on a stream socket; send at least one byte.", nameof(data));
        }

        int controlLength = fds.IsEmpty ? 0 : Cmsg.Space(fds.Length * sizeof(int));
        byte* control = stackalloc byte[Cmsg.Space(Cmsg.MaxFds * sizeof(int))];
        bool* added = stackalloc bool[fds.Length];
        int referenced = 0;
        try
        {
            if (controlLength > 0)
            {
                new Span<byte>(control, controlLength).Clear();
                var header = (CmsgHdr*)control;
                header->Length = (nuint)Cmsg.Len(fds.Length * sizeof(int));
                header->Level = Libc.SOL_SOCKET;
                header->Type = Cmsg.SCM_RIGHTS;
                int* slots = (int*)(control + Cmsg.DataOffset);
                for (; referenced < fds.Length; referenced++)
                {
                    SafeFd fd = fds[referenced] ?? throw new ArgumentNullException(nameof(fds), $"fds[{referenced}] is null.");
                    fd.DangerousAddRef(ref added[referenced]);
                    slots[referenced] = fd.DangerousGetFd();
                }
            }

            fixed (byte* bytes = data)
            {
                var iov = new IoVec { Base = bytes, Length = (nuint)data.Length };
                var message = new MsgHdr
                {
                    Iov = &iov,
                    IovLength = 1,
                    Control = controlLength > 0 ? control : null,
                    ControlLength = (nuint)controlLength,
                };

                while (true)
                {
                    nint result = Libc.SendMsg(Handle, &message, Libc.MSG_NOSIGNAL);
                    if (result >= 0)
                    {
                        bytesSent = (int)result;
                        return true;
                    }

                    int errno = ThrowHelper.LastErrno;
                    if (errno == Errno.EAGAIN)
                    {
                        bytesSent = 0;
                        return false;
                    }

                    if (errno != Errno.EINTR)
                    {
                        ThrowHelper.Throw(errno, "sendmsg");
                    }
                }
            }
        }
        finally
        {
            for (int i = 0; i < fds.Length; i++)
            {
                if (added[i])
                {
                    fds[i].DangerousRelease();
                }
            }
        }
    }

    /// <summary>
    /// Sends <paramref name="head"/> followed by <paramref name="tail"/> as one stream write (sendmsg with two iovecs,
    /// no copy into a joint buffer), looping over partial sends; on a non-blocking socket it waits with poll(2).
    /// </summary>
    /// <param name="head">The first bytes (a message header).</param>
    /// <param name="tail">The bytes that follow (a bulk payload).</param>
    public unsafe void SendAllGather(ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail)
    {
        fixed (byte* h = head)
        fixed (byte* t = tail)
        {
            IoVec* iov = stackalloc IoVec[2];
            iov[0] = new IoVec { Base = h, Length = (nuint)head.Length };
            iov[1] = new IoVec { Base = t, Length = (nuint)tail.Length };
            IoVec* next = iov;
            nuint count = 2;
            while (count > 0 && next->Length == 0) { next++; count--; }
            while (count > 0)
            {
                var message = new MsgHdr { Iov = next, IovLength = count };
                nint result = Libc.SendMsg(Handle, &message, Libc.MSG_NOSIGNAL);
                if (result < 0)
                {
                    int errno = ThrowHelper.LastErrno;
                    if (errno == Errno.EAGAIN) { Libc.PollOne(Handle, PollEvents.Writable, -1); continue; }
                    if (errno != Errno.EINTR) ThrowHelper.Throw(errno, "sendmsg");
                    continue;
                }

                nuint sent = (nuint)result;
                while (count > 0 && sent >= next->Length) { sent -= next->Length; next++; count--; }
                if (count > 0) { next->Base = (byte*)next->Base + sent; next->Length -= sent; }
            }
        }
    }

    /// <summary>
    /// Sends all of <paramref name="data"/>, with <paramref name="fds"/> attached to the first byte, looping over
    /// partial sends. On a non-blocking socket it waits for writability with poll(2) between attempts.
    /// </summary>
    /// <param name="data">The bytes.</param>
    /// <param name="fds">Descriptors to pass with the first byte.</param>
    public void SendAll(ReadOnlySpan<byte> data, ReadOnlySpan<SafeFd> fds = default)
    {
        bool first = true;
        while (first || !data.IsEmpty)
        {
            if (TrySend(data, first ? fds : default, out int sent))
            {
                data = data[sent..];
                first = false;
            }
            else
            {
                Libc.PollOne(Handle, PollEvents.Writable, -1);
            }
        }
    }
}
