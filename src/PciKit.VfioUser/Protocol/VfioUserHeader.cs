using System.Buffers.Binary;

namespace PciKit.VfioUser.Protocol;

/// <summary>The 16-byte header that starts every vfio-user message.</summary>
/// <remarks>
/// Layout: 0 msg_id u16, 2 cmd u16, 4 msg_size u32 (header included), 8 flags u32, 12 error_no u32.
/// Flags bits 0–3 are the message type (0 command, 1 reply), 0x10 NO_REPLY, 0x20 ERROR.
/// </remarks>
internal readonly struct VfioUserHeader
{
    /// <summary>Size of the header in bytes.</summary>
    public const int HeaderSize = 16;
    /// <summary>Mask of the type bits in <see cref="Flags"/>.</summary>
    public const uint TypeMask = 0xF;
    /// <summary>Type value of a command.</summary>
    public const uint TypeCommand = 0;
    /// <summary>Type value of a reply.</summary>
    public const uint TypeReply = 1;
    /// <summary>Sender wants no reply.</summary>
    public const uint FlagNoReply = 0x10;
    /// <summary>Reply reports an error in <see cref="ErrorNumber"/>.</summary>
    public const uint FlagError = 0x20;

    /// <summary>Creates a header from its fields.</summary>
    public VfioUserHeader(ushort messageId, VfioUserCommand command, uint messageSize, uint flags, uint errorNumber)
    {
        MessageId = messageId;
        Command = command;
        MessageSize = messageSize;
        Flags = flags;
        ErrorNumber = errorNumber;
    }

    /// <summary>Message id, echoed in the reply.</summary>
    public ushort MessageId { get; }
    /// <summary>Command; may be a value outside the enum (an unknown command).</summary>
    public VfioUserCommand Command { get; }
    /// <summary>Whole message size, header included.</summary>
    public uint MessageSize { get; }
    /// <summary>Raw flags.</summary>
    public uint Flags { get; }
    /// <summary>errno of an error reply.</summary>
    public uint ErrorNumber { get; }

    /// <summary>Payload size (<see cref="MessageSize"/> minus the header).</summary>
    public int PayloadSize => (int)(MessageSize - HeaderSize);
    /// <summary>True for a reply, false for a command.</summary>
    public bool IsReply => (Flags & TypeMask) == TypeReply;
    /// <summary>NO_REPLY flag.</summary>
    public bool NoReply => (Flags & FlagNoReply) != 0;
    /// <summary>ERROR flag.</summary>
    public bool IsError => (Flags & FlagError) != 0;

    /// <summary>A command header.</summary>
    public static VfioUserHeader ForCommand(ushort messageId, VfioUserCommand command, int payloadSize, bool noReply = false)
        => new(messageId, command, checked((uint)(HeaderSize + payloadSize)), TypeCommand | (noReply ? FlagNoReply : 0), 0);

    /// <summary>A successful reply to <paramref name="request"/> carrying <paramref name="payloadSize"/> bytes.</summary>
    public static VfioUserHeader ForReply(in VfioUserHeader request, int payloadSize)
        => new(request.MessageId, request.Command, checked((uint)(HeaderSize + payloadSize)), TypeReply, 0);

    /// <summary>A bare error reply to <paramref name="request"/>: flags 0x21 and the errno.</summary>
    public static VfioUserHeader ForError(in VfioUserHeader request, int errno)
        => new(request.MessageId, request.Command, HeaderSize, TypeReply | FlagError, (uint)errno);

    /// <summary>
    /// Reads a header (its fields are set even on failure, for the error reply). Fails with EINVAL when fewer than 16 bytes are given, msg_size is below 16 or the
    /// type is neither command nor reply, and with E2BIG when msg_size exceeds <paramref name="maxMessageSize"/>.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> source, uint maxMessageSize, out VfioUserHeader header, out VfioUserError error)
    {
        header = default;
        if (source.Length < HeaderSize)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "header shorter than 16 bytes");
        }

        ushort id = BinaryPrimitives.ReadUInt16LittleEndian(source);
        ushort cmd = BinaryPrimitives.ReadUInt16LittleEndian(source[2..]);
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(source[4..]);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(source[8..]);
        uint errno = BinaryPrimitives.ReadUInt32LittleEndian(source[12..]);
        // The fields are returned even when the header is refused, so that the caller can answer the message.
        header = new VfioUserHeader(id, (VfioUserCommand)cmd, size, flags, errno);

        if (size < HeaderSize)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "msg_size smaller than the header");
        }

        if (size > maxMessageSize || size > int.MaxValue)
        {
            return Wire.Fail(out error, LinuxErrno.E2BIG, "msg_size larger than the negotiated maximum");
        }

        uint type = flags & TypeMask;
        if (type != TypeCommand && type != TypeReply)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "message type is neither command nor reply");
        }

        return Wire.Ok(out error);
    }

    /// <summary>Writes the 16 header bytes; returns 16. Throws <see cref="ArgumentException"/> if the span is shorter.</summary>
    public int Write(Span<byte> destination)
    {
        Wire.EnsureRoom(destination, HeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(destination, MessageId);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], (ushort)Command);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], MessageSize);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], ErrorNumber);
        return HeaderSize;
    }
}
