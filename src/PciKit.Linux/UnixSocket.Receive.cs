using PciKit.Linux.Interop;

namespace PciKit.Linux;

public sealed partial class UnixSocket
{
    /// <summary>
    /// One recvmsg(2) with MSG_CMSG_CLOEXEC: reads up to <c>buffer.Length</c> bytes and appends the descriptors
    /// that arrived with them to <paramref name="fds"/>, each owned by a <see cref="SafeFd"/> at once.
    /// </summary>
    /// <param name="buffer">Where to read to. A short read is normal on a stream; loop for a whole message.</param>
    /// <param name="fds">
    /// Receives descriptors. If more arrive than its free capacity, or the kernel truncates the control data,
    /// all descriptors of this read are closed and <see cref="ReceivedFds.Status"/> says why; the bytes are still returned.
    /// </param>
    /// <returns>Bytes read; 0 at end of stream.</returns>
    /// <exception cref="LinuxException">EAGAIN (<see cref="LinuxException.IsWouldBlock"/>) when a non-blocking socket has no data; ECONNRESET …</exception>
    public int Receive(Span<byte> buffer, ReceivedFds fds)
    {
        if (!TryReceive(buffer, fds, out int received))
        {
            ThrowHelper.Throw(Errno.EAGAIN, "recvmsg");
        }

        return received;
    }

    /// <summary>Like <see cref="Receive"/>, but returns <see langword="false"/> instead of throwing EAGAIN.</summary>
    /// <param name="buffer">Where to read to.</param>
    /// <param name="fds">Receives descriptors.</param>
    /// <param name="bytesRead">Bytes read; 0 at end of stream.</param>
    /// <returns><see langword="false"/> when a non-blocking socket has no data.</returns>
    public bool TryReceive(Span<byte> buffer, ReceivedFds fds, out int bytesRead) =>
        TryReceiveCore(buffer, fds, Cmsg.ReceiveBufferSize, out bytesRead);

    /// <summary>
    /// Like <see cref="TryReceive"/> with MSG_DONTWAIT: never blocks, also on a blocking socket. One system call that
    /// either takes what is waiting or returns <see langword="false"/> (a busy-polling reader needs no poll(2) first).
    /// </summary>
    /// <param name="buffer">Where to read to.</param>
    /// <param name="fds">Receives descriptors.</param>
    /// <param name="bytesRead">Bytes read; 0 at end of stream.</param>
    /// <returns><see langword="false"/> when nothing is waiting.</returns>
    public bool TryReceiveNow(Span<byte> buffer, ReceivedFds fds, out int bytesRead) =>
        TryReceiveCore(buffer, fds, Cmsg.ReceiveBufferSize, out bytesRead, Libc.MSG_DONTWAIT);

    /// <summary>The receive path with a chosen control buffer size (tests shrink it to provoke MSG_CTRUNC).</summary>
    internal unsafe bool TryReceiveCore(Span<byte> buffer, ReceivedFds fds, int controlSize, out int bytesRead, int flags = 0)
    {
        ArgumentNullException.ThrowIfNull(fds);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(controlSize, Cmsg.ReceiveBufferSize);
        byte* control = stackalloc byte[Cmsg.ReceiveBufferSize];
        fixed (byte* bytes = buffer)
        {
            var iov = new IoVec { Base = bytes, Length = (nuint)buffer.Length };
            var message = new MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)controlSize };
            nint result;
            while ((result = Libc.RecvMsg(Handle, &message, Libc.MSG_CMSG_CLOEXEC | flags)) < 0)
            {
                int errno = ThrowHelper.LastErrno;
                if (errno == Errno.EAGAIN)
                {
                    bytesRead = 0;
                    return false;
                }

                if (errno != Errno.EINTR)
                {
                    ThrowHelper.Throw(errno, "recvmsg");
                }
            }

            bytesRead = (int)result;
            TakeDescriptors(control, (int)message.ControlLength, message.Flags, fds);
            return true;
        }
    }

    /// <summary>
    /// Wraps every SCM_RIGHTS descriptor in the control data (descriptors beyond the free capacity are closed
    /// at once instead), then enforces capacity and MSG_CTRUNC by closing all of this read's descriptors.
    /// Nothing that arrived can leak, even if wrapping throws.
    /// </summary>
    private static unsafe void TakeDescriptors(byte* control, int controlLength, int flags, ReceivedFds fds)
    {
        int start = fds.Count;
        int overflow = 0;
        var reader = new CmsgReader(control, controlLength);
        try
        {
            while (reader.TryNextDescriptor(out int raw))
            {
                if (fds.FreeCapacity > 0)
                {
                    fds.Add(new SafeFd(raw, ownsHandle: true));
                }
                else
                {
                    _ = Libc.Close(raw);
                    overflow++;
                }

                reader.Advance();
            }
        }
        catch
        {
            // Wrapping failed (out of memory): close what is still raw, and everything this read produced.
            while (reader.TryNextDescriptor(out int raw))
            {
                _ = Libc.Close(raw);
                overflow++;
                reader.Advance();
            }

            fds.Reject(start, overflow, FdTransferStatus.ControlTruncated);
            throw;
        }

        if ((flags & Libc.MSG_CTRUNC) != 0)
        {
            fds.Reject(start, overflow, FdTransferStatus.ControlTruncated);
        }
        else if (overflow > 0)
        {
            fds.Reject(start, overflow, FdTransferStatus.TooManyFds);
        }
    }

    /// <summary>Walks the SCM_RIGHTS descriptors of a control buffer, one at a time, validating every cmsg_len.</summary>
    private unsafe struct CmsgReader(byte* control, int length)
    {
        private readonly byte* _end = control + length;
        private byte* _next = control;
        private int* _fd;
        private int _remaining;

        /// <summary>The current descriptor; it stays current until <see cref="Advance"/>.</summary>
        public bool TryNextDescriptor(out int fd)
        {
            while (_remaining == 0)
            {
                if (_next + Cmsg.DataOffset > _end)
                {
                    fd = -1;
                    return false;
                }

                var header = (CmsgHdr*)_next;
                if (header->Length < Cmsg.DataOffset || header->Length > (nuint)(_end - _next))
                {
                    fd = -1;
                    return false;
                }

                if (header->Level == Libc.SOL_SOCKET && header->Type == Cmsg.SCM_RIGHTS)
                {
                    _fd = (int*)(_next + Cmsg.DataOffset);
                    _remaining = ((int)header->Length - Cmsg.DataOffset) / sizeof(int);
                }

                _next += Cmsg.Align((int)header->Length);
            }

            fd = *_fd;
            return true;
        }

        public void Advance()
        {
            _fd++;
            _remaining--;
        }
    }
}
