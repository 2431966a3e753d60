using PciKit.UserClient.Protocol;

namespace PciKit.UserClient.Tests;

/// <summary>The wire format's offsets, pinned byte by byte (docs: UserClientWire).</summary>
public sealed class UserClientWireTests
{
    [Fact]
    public void A_request_is_16_little_endian_bytes()
    {
        var b = new byte[UserClientWire.RequestSize];
        UserClientWire.WriteRequest(b, command: 1, type: 0x0A0B0C0D, flags: 1);
        Assert.Equal(new byte[] { 0x50, 0x4B, 0x55, 0x43, 1, 0, 1, 0, 0x0D, 0x0C, 0x0B, 0x0A, 1, 0, 0, 0 }, b);
        Assert.Equal(new UserClientWire.Request(UserClientWire.Magic, 1, 1, 0x0A0B0C0D, 1), UserClientWire.ReadRequest(b));
    }

    [Fact]
    public void A_reply_is_a_40_byte_header_and_its_message()
    {
        var b = new byte[UserClientWire.ReplyHeaderSize + UserClientWire.MaxMessageLength];
        int n = UserClientWire.WriteReply(b, 1, UserClientStatus.UnknownType, 1, 0x1122334455667788, 0x0102030405060708, "no");
        Assert.Equal(42, n);
        Assert.Equal(new byte[]
        {
            0x50, 0x4B, 0x55, 0x43, 1, 0, 1, 0, 4, 0, 0, 0, 1, 0, 0, 0,
            0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
            2, 0, 0, 0, 0, 0, 0, 0, (byte)'n', (byte)'o',
        }, b[..n]);
        Assert.True(UserClientWire.TryReadReply(b, out var reply, out _));
        Assert.Equal(new UserClientWire.Reply(1, UserClientStatus.UnknownType, 1, 0x1122334455667788, 0x0102030405060708, 2), reply);
    }

    [Fact]
    public void Long_messages_are_truncated_to_the_limit_on_a_character_boundary()
    {
        var b = new byte[UserClientWire.ReplyHeaderSize + UserClientWire.MaxMessageLength];
        int n = UserClientWire.WriteReply(b, 1, UserClientStatus.Malformed, 0, 0, 0, new string('é', 600)); // 2 bytes each
        Assert.Equal(UserClientWire.ReplyHeaderSize + 1024, n);
        Assert.True(UserClientWire.TryReadReply(b, out var reply, out _));
        Assert.Equal(1024, reply.MessageLength);
    }

    [Theory]
    [InlineData(0, 0x00, "magic")]
    [InlineData(4, 0x02, "version 2")]
    [InlineData(8, 0x08, "status 8 is unknown")]
    [InlineData(33, 0x10, "message length 4096 exceeds 1024")]
    public void A_reply_with_a_field_out_of_range_is_rejected_with_the_reason(int offset, byte value, string reason)
    {
        var b = new byte[UserClientWire.ReplyHeaderSize];
        UserClientWire.WriteReply(b, 1, UserClientStatus.Ok, 0, 1, 0, null);
        b[offset] = value;
        Assert.False(UserClientWire.TryReadReply(b, out _, out string? error));
        Assert.Contains(reason, error);
        Assert.False(UserClientWire.TryReadReply(b.AsSpan(0, 39), out _, out error));
        Assert.Contains("shorter than its 40-byte header", error);
    }
}
