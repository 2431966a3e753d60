using PciKit.VfioUser.Protocol;
using static PciKit.VfioUser.Tests.Bytes;

namespace PciKit.VfioUser.Tests;

public class VersionTests
{
    private const string Qemu102Json =
        "{\"capabilities\":{\"max_data_xfer_size\":1048576,\"pgsizes\":4096,\"max_dma_maps\":65535,\"max_msg_fds\":16,\"write_multiple\":true,\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":1048576}}}";

    private static byte[] Payload(string json, ushort major = 0, ushort minor = 0)
        => Concat([(byte)major, (byte)(major >> 8), (byte)minor, (byte)(minor >> 8)], Ascii(json), [0]);

    private static VfioUserError Fail(byte[] payload)
    {
        Assert.False(VfioUserVersion.TryParse(payload, out _, out var e));
        return e;
    }

    [Fact]
    public void ParsesQemu102Request()
    {
        Assert.True(VfioUserVersion.TryParse(Payload(Qemu102Json), out var v, out var e), e.Message);
        Assert.Equal(0, v.Major);
        Assert.Equal(0, v.Minor);
        var c = v.Capabilities;
        Assert.Equal(16u, c.MaxMessageFds);
        Assert.Equal(1048576ul, c.MaxDataTransferSize);
        Assert.Equal(65535u, c.MaxDmaMaps);
        Assert.Equal(4096ul, c.PageSizes);
        Assert.True(c.WriteMultiple);
        Assert.True(c.HasMigration);
        Assert.Equal(4096ul, c.MigrationPageSize);
        Assert.Equal(1048576ul, c.MigrationMaxBitmapSize);
        Assert.False(c.TwinSocket);
    }

    [Fact]
    public void DefaultsWhenAbsent()
    {
        Assert.True(VfioUserVersion.TryParse(Payload("{}", 0, 1), out var v, out _));
        Assert.Equal(1, v.Minor);
        Assert.Equal(new VfioUserCapabilities(), v.Capabilities);
        Assert.Equal(1u, v.Capabilities.MaxMessageFds);
        Assert.Equal(1ul << 20, v.Capabilities.MaxDataTransferSize);
        Assert.True(VfioUserVersion.TryParse(Hex("0000 0000"), out v, out _));
        Assert.Equal(new VfioUserCapabilities(), v.Capabilities);
    }

    [Fact]
    public void ParsesTwinSocketAndSkipsUnknown()
    {
        Assert.True(VfioUserVersion.TryParse(
            Payload("{\"x\":[1,{\"a\":2}],\"capabilities\":{\"future\":{\"k\":[true]},\"twin_socket\":{\"supported\":true,\"fd_index\":0}}}"),
            out var v, out var e), e.Message);
        Assert.True(v.Capabilities.TwinSocket);
        Assert.Equal(0, v.Capabilities.TwinSocketFdIndex);
    }

    [Theory]
    [InlineData("{\"capabilities\":{\"max_msg_fds\":\"16\"}}")]
    [InlineData("{\"capabilities\":{\"max_msg_fds\":-1}}")]
    [InlineData("{\"capabilities\":{\"max_msg_fds\":4294967296}}")]
    [InlineData("{\"capabilities\":{\"max_msg_fds\":1.5}}")]
    [InlineData("{\"capabilities\":{\"write_multiple\":1}}")]
    [InlineData("{\"capabilities\":{\"migration\":4096}}")]
    [InlineData("{\"capabilities\":{\"twin_socket\":true}}")]
    [InlineData("{\"capabilities\":[]}")]
    [InlineData("[]")]
    [InlineData("{\"capabilities\":{\"pgsizes\":4096}")]
    [InlineData("{\"capabilities\":{\"pgsizes\":4096,}}")]
    [InlineData("{} {}")]
    [InlineData("not json")]
    [InlineData("")]
    [InlineData("{\"a\":[[[[[[[[[[[[1]]]]]]]]]]]]}")]
    public void MalformedJsonIsEinval(string json)
        => Assert.Equal(LinuxErrno.EINVAL, Fail(Payload(json)).Errno);

    [Fact]
    public void MissingNulIsEinval()
        => Assert.Equal(LinuxErrno.EINVAL, Fail(Concat(Hex("0000 0000"), Ascii("{}"))).Errno);

    [Fact]
    public void BytesAfterNulAreEinval()
        => Assert.Equal(LinuxErrno.EINVAL, Fail(Concat(Hex("0000 0000"), Ascii("{}"), [0, 0x20])).Errno);

    [Fact]
    public void TruncatedIsEinval()
        => Assert.Equal(LinuxErrno.EINVAL, Fail(Hex("0000 00")).Errno);

    [Fact]
    public void OversizedJsonIsE2big()
    {
        string json = "{\"pad\":\"" + new string('a', VfioUserVersion.MaxJsonSize) + "\"}";
        Assert.Equal(LinuxErrno.E2BIG, Fail(Payload(json)).Errno);
    }

    [Fact]
    public void InvalidUtf8IsEinval()
        => Assert.Equal(LinuxErrno.EINVAL, Fail(Concat(Hex("0000 0000"), Ascii("{\"a\":\""), [0xff, 0xfe], Ascii("\"}"), [0])).Errno);

    [Fact]
    public void WritesServerReply()
    {
        var caps = new VfioUserCapabilities { MaxMessageFds = 8, MaxDataTransferSize = 1048576, MaxDmaMaps = 65535, PageSizes = 4096, WriteMultiple = true };
        var buf = new byte[256];
        int n = new VfioUserVersion(0, 0, caps).Write(buf);
        byte[] expected = Payload("{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,\"max_dma_maps\":65535,\"pgsizes\":4096,\"write_multiple\":true}}");
        Assert.Equal(expected, buf[..n]);
        Assert.True(VfioUserVersion.TryParse(buf.AsSpan(0, n), out var back, out _));
        Assert.Equal(caps, back.Capabilities);
    }

    [Fact]
    public void WritesTwinSocketAndMigration()
    {
        var caps = new VfioUserCapabilities { TwinSocket = true, TwinSocketFdIndex = 0, HasMigration = true, MigrationPageSize = 4096, MigrationMaxBitmapSize = 1 };
        var buf = new byte[512];
        int n = new VfioUserVersion(0, 1, caps).Write(buf);
        Assert.Equal(Payload("{\"capabilities\":{\"max_msg_fds\":1,\"max_data_xfer_size\":1048576,\"max_dma_maps\":65535,\"pgsizes\":4096,\"twin_socket\":{\"supported\":true,\"fd_index\":0},\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":1}}}", 0, 1), buf[..n]);
    }

    [Fact]
    public void TryWriteFailsWhenTooSmall()
    {
        var v = new VfioUserVersion(0, 0, new VfioUserCapabilities());
        Assert.False(v.TryWrite(new byte[20], out int n));
        Assert.Equal(0, n);
        Assert.Throws<ArgumentException>(() => v.Write(new byte[3]));
    }
}
