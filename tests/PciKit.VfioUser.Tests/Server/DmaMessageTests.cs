using PciKit.Devices.Edu;
using PciKit.Linux;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>
/// DMA_MAP without an fd: the device's DMA becomes DMA_READ (11) / DMA_WRITE (12) commands from the server, which the
/// client answers while it waits for its own replies, chunked by the client's max_data_xfer_size.
/// </summary>
public sealed class DmaMessageTests
{
    private static string Json(int maxDataXfer) =>
        $"{{\"capabilities\":{{\"max_msg_fds\":16,\"max_data_xfer_size\":{maxDataXfer},\"pgsizes\":4096}}}}";

    [Fact]
    public void DeviceDmaIsServedByMessagesChunkedByTheClientsMaxDataXferSize()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated(Json(1024));
        c.EnableMemoryAndBusMaster();
        var memory = Edu.Pattern(0x2000, 7);
        var original = (byte[])memory.Clone();
        c.DmaMemory = memory;
        c.DmaBase = 0x100000;
        c.MapDma(0x100000, 0x2000); // no fd

        Edu.DmaFromRam(c, 0x100100, 0, 0x1000);
        Assert.Equal(
            [(Cmd.DmaRead, 0x100100ul, 1024ul), (Cmd.DmaRead, 0x100500ul, 1024ul), (Cmd.DmaRead, 0x100900ul, 1024ul), (Cmd.DmaRead, 0x100D00ul, 1024ul)],
            c.DmaRequests);
        c.DmaRequests.Clear();

        Edu.DmaToRam(c, 0, 0x100F00, 0xC00);
        Assert.Equal(
            [(Cmd.DmaWrite, 0x100F00ul, 1024ul), (Cmd.DmaWrite, 0x101300ul, 1024ul), (Cmd.DmaWrite, 0x101700ul, 1024ul)],
            c.DmaRequests);

        var expected = (byte[])original.Clone();
        original.AsSpan(0x100, 0xC00).CopyTo(expected.AsSpan(0xF00));
        Assert.Equal(expected, memory);
        Assert.False(Edu.MasterAbort(c));
        Assert.True(h.Server.Counters.DmaMessageCount >= 7);
    }

    [Fact]
    public void WithMaxDataXferSize4096AFullBufferTakesOneMessageAndAShortTailIsItsOwnChunk()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated(Json(4096));
        c.EnableMemoryAndBusMaster();
        var memory = Edu.Pattern(0x3000, 8);
        c.DmaMemory = memory;
        c.DmaBase = 0x200000;
        c.MapDma(0x200000, 0x3000);

        Edu.DmaFromRam(c, 0x200000, 0, 0x1000);
        Assert.Equal([(Cmd.DmaRead, 0x200000ul, 4096ul)], c.DmaRequests);
        c.DmaRequests.Clear();
        Edu.DmaToRam(c, 0, 0x201FFF, 1); // a single byte
        Assert.Equal([(Cmd.DmaWrite, 0x201FFFul, 1ul)], c.DmaRequests);
        Assert.Equal(memory[0], memory[0x1FFF]);
    }

    [Fact]
    public void AClientThatAnswersDmaWithAnErrorMakesTheDeviceDmaFail()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated(Json(4096));
        c.EnableMemoryAndBusMaster();
        c.DmaMemory = new byte[0x1000];
        c.DmaBase = 0x300000;      // the client can only serve the first page …
        c.MapDma(0x300000, 0x2000); // … of the window it mapped
        Edu.DmaFromRam(c, 0x301000, 0, 16);
        Assert.Single(c.DmaRequests);
        Assert.True(Edu.MasterAbort(c));
        c.Write32(0, 0x04, 0);
        Assert.Equal(0xFFFFFFFFu, c.Read32(0, 0x04));
    }

    [Fact]
    public void OneDmaCanSpanAMemfdWindowAndAMessageWindow()
    {
        using var h = new ServerHarness(new EduDevice());
        using var c = h.ConnectNegotiated(Json(4096));
        c.EnableMemoryAndBusMaster();
        using var memfd = SharedMemory.CreateMemFd("pk-dma-mixed", 0x1000);
        using var ram = MemoryMapping.Map(memfd, 0, 0x1000);
        var low = Edu.Pattern(0x800, 9);
        ram.CopyFrom(0x800, low);
        var high = Edu.Pattern(0x1000, 10);
        c.DmaMemory = high;
        c.DmaBase = 0x401000;
        c.MapDma(0x400000, 0x1000, memfd);
        c.MapDma(0x401000, 0x1000);

        Edu.DmaFromRam(c, 0x400800, 0, 0x1000);
        Assert.Equal([(Cmd.DmaRead, 0x401000ul, 0x800ul)], c.DmaRequests);
        c.DmaRequests.Clear();
        Edu.DmaToRam(c, 0, 0x400000, 0x1000); // into the memfd only: no messages
        Assert.Empty(c.DmaRequests);
        Assert.Equal(low.Concat(high.AsSpan(0, 0x800).ToArray()).ToArray(), ram.GetSpan(0, 0x1000).ToArray());
    }
}
