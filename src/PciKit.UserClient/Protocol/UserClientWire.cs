using System.Buffers.Binary;
using System.Text;

namespace PciKit.UserClient.Protocol;

/// <summary>
/// The user-client wire format: fixed little-endian fields at explicit offsets over a UNIX stream socket.
/// <code>
/// request (16 bytes, app → service)
///   0  u32  magic 0x43554B50 ("PKUC")
///   4  u16  version (1)
///   6  u16  command (1 = map memory)
///   8  u32  memory type
///  12  u32  flags (bit 0: read-only; other bits must be 0)
/// reply (40 bytes + message, service → app; on success one descriptor rides on the first byte)
///   0  u32  magic
///   4  u16  version
///   6  u16  command (echoed)
///   8  u32  status (UserClientStatus)
///  12  u32  flags granted (bit 0: read-only)
///  16  u64  length of the memory in bytes
///  24  u64  offset of the memory's first byte in the file
///  32  u32  message length (0–1024; UTF-8 text explaining a refusal)
///  36  u32  reserved (0)
///  40  ...  message
/// </code>
/// Readers check every field before use and never throw: they return false with a reason.
/// </summary>
internal static class UserClientWire
{
    internal const uint Magic = 0x43554B50;
    internal const ushort Version = 1;
    internal const ushort MapMemoryCommand = 1;
    internal const uint ReadOnlyFlag = 1;
    internal const int RequestSize = 16;
    internal const int ReplyHeaderSize = 40;
    internal const int MaxMessageLength = 1024;

    internal readonly record struct Request(uint Magic, ushort Version, ushort Command, uint Type, uint Flags);

    internal readonly record struct Reply(ushort Command, UserClientStatus Status, uint Flags, ulong Length, ulong FileOffset, int MessageLength);

    internal static void WriteRequest(Span<byte> destination, ushort command, uint type, uint flags)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], Version);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], command);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], type);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], flags);
    }

    internal static Request ReadRequest(ReadOnlySpan<byte> source) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(source),
        BinaryPrimitives.ReadUInt16LittleEndian(source[4..]),
        BinaryPrimitives.ReadUInt16LittleEndian(source[6..]),
        BinaryPrimitives.ReadUInt32LittleEndian(source[8..]),
        BinaryPrimitives.ReadUInt32LittleEndian(source[12..]));

    /// <summary>Writes a reply with <paramref name="message"/> (truncated to <see cref="MaxMessageLength"/> bytes); returns its size.</summary>
    internal static int WriteReply(Span<byte> destination, ushort command, UserClientStatus status, uint flags, ulong length, ulong fileOffset, string? message)
    {
        int messageLength = 0;
        if (!string.IsNullOrEmpty(message))
        {
            var room = destination.Slice(ReplyHeaderSize, MaxMessageLength);
            messageLength = Encoding.UTF8.GetByteCount(message) <= MaxMessageLength
                ? Encoding.UTF8.GetBytes(message, room)
                : Truncate(message, room);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], Version);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], command);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], (uint)status);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], flags);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], length);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], fileOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[32..], (uint)messageLength);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[36..], 0);
        return ReplyHeaderSize + messageLength;
    }

    private static int Truncate(string message, Span<byte> room)
    {
        int chars = Math.Min(message.Length, MaxMessageLength);
        while (Encoding.UTF8.GetByteCount(message.AsSpan(0, chars)) > room.Length) chars--;
        return Encoding.UTF8.GetBytes(message.AsSpan(0, chars), room);
    }

    /// <summary>Parses a reply header; false with <paramref name="error"/> when a field is out of range.</summary>
    internal static bool TryReadReply(ReadOnlySpan<byte> source, out Reply reply, out string? error)
    {
        reply = default;
        if (source.Length < ReplyHeaderSize) { error = $"the reply is {source.Length} bytes, shorter than its {ReplyHeaderSize}-byte header"; return false; }
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(source);
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(source[4..]);
        uint status = BinaryPrimitives.ReadUInt32LittleEndian(source[8..]);
        uint messageLength = BinaryPrimitives.ReadUInt32LittleEndian(source[32..]);
        if (magic != Magic) { error = $"the reply's magic is 0x{magic:x8}, not 0x{Magic:x8}: the socket is not a PciKit user-client service"; return false; }
        if (version != Version) { error = $"the service speaks version {version}; this library speaks {Version}"; return false; }
        if (status > (uint)UserClientStatus.Busy) { error = $"the reply's status {status} is unknown"; return false; }
        if (messageLength > MaxMessageLength) { error = $"the reply's message length {messageLength} exceeds {MaxMessageLength}"; return false; }
        reply = new Reply(
            BinaryPrimitives.ReadUInt16LittleEndian(source[6..]),
            (UserClientStatus)status,
            BinaryPrimitives.ReadUInt32LittleEndian(source[12..]),
            BinaryPrimitives.ReadUInt64LittleEndian(source[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(source[24..]),
            (int)messageLength);
        error = null;
        return true;
    }
}
