using PciKit.VfioUser.Protocol;
using static PciKit.VfioUser.Tests.Bytes;

namespace PciKit.VfioUser.Tests.Client;

public sealed class RegionInfoReplyTests
{
    [Fact]
    public void A_truncated_reply_without_the_caps_flag_asks_for_a_retry_as_libvfio_user_sends_it()
    {
        // libvfio-user's samples/server answers argsz 32 for its sparse BAR1 with argsz 80 and flags R|W|MMAP (no CAPS).
        var reply = Hex("50000000 07000000 01000000 00000000 0040000000000000 0000000000000000");
        Assert.True(RegionInfoReply.TryParse(reply, 1, out var info, out bool retry, out var areas, out _));
        Assert.True(retry);
        Assert.Null(areas);
        Assert.Equal(80u, info.ArgSz);
    }

    [Fact]
    public void The_full_reply_carries_the_sparse_areas()
    {
        var reply = Hex("50000000 0f000000 01000000 20000000 0040000000000000 0000000000000000" +
                        "0100 0100 00000000 02000000 00000000" +
                        "0000000000000000 0010000000000000 0020000000000000 0010000000000000");
        Assert.True(RegionInfoReply.TryParse(reply, 1, out _, out bool retry, out var areas, out _));
        Assert.False(retry);
        Assert.NotNull(areas);
        Assert.Equal([new SparseMmapArea(0, 0x1000), new SparseMmapArea(0x2000, 0x1000)], areas);
    }
}
