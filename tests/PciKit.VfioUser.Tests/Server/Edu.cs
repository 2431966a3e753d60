namespace PciKit.VfioUser.Tests.Server;

/// <summary>Drives edu's DMA engine through REGION_WRITE/REGION_READ of BAR0, as a guest driver would.</summary>
internal static class Edu
{
    public const ulong Buffer = 0x40000;

    /// <summary>RAM → edu buffer: src = bus address, dst = buffer offset; waits until the start bit clears.</summary>
    public static void DmaFromRam(RawClient c, ulong busAddress, ulong bufferOffset, ulong count) =>
        Run(c, busAddress, Buffer + bufferOffset, count, toRam: false);

    /// <summary>Edu buffer → RAM.</summary>
    public static void DmaToRam(RawClient c, ulong bufferOffset, ulong busAddress, ulong count) =>
        Run(c, Buffer + bufferOffset, busAddress, count, toRam: true);

    private static void Run(RawClient c, ulong src, ulong dst, ulong count, bool toRam)
    {
        c.Write64(0, 0x80, src);
        c.Write64(0, 0x88, dst);
        c.Write64(0, 0x90, count);
        c.Write64(0, 0x98, toRam ? 3ul : 1ul);
        Eventually.True(() => (c.Read64(0, 0x98) & 1) == 0, "edu's DMA to finish");
    }

    /// <summary>Received Master Abort (Status bit 13): set by a DMA that touched unmapped memory.</summary>
    public static bool MasterAbort(RawClient c) => (c.Read16(7, 0x06) & 0x2000) != 0;

    public static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}

/// <summary>
/// A memfd the test maps as DMA window at <see cref="Address"/> to fill and inspect edu's buffer (which BAR0 does
/// not expose): load = copy bytes in and DMA RAM → edu; save = DMA edu → RAM and copy bytes out.
/// </summary>
internal sealed class ScratchWindow : IDisposable
{
    public const ulong Address = 0x0800_0000;
    private readonly RawClient _client;
    private readonly PciKit.Linux.SafeFd _fd = PciKit.Linux.SharedMemory.CreateMemFd("pk-scratch", 0x1000);
    private readonly PciKit.Linux.MemoryMapping _map;

    public ScratchWindow(RawClient client)
    {
        _client = client;
        _map = PciKit.Linux.MemoryMapping.Map(_fd, 0, 0x1000);
        client.MapDma(Address, 0x1000, _fd);
    }

    public void LoadEduBuffer(byte[] bytes)
    {
        _map.CopyFrom(0, bytes);
        Edu.DmaFromRam(_client, Address, 0, (ulong)bytes.Length);
    }

    public byte[] SaveEduBuffer(int count)
    {
        _map.GetSpan(0, 0x1000).Fill(0xCD);
        Edu.DmaToRam(_client, 0, Address, (ulong)count);
        return _map.GetSpan(0, count).ToArray();
    }

    public void Dispose()
    {
        _map.Dispose();
        _fd.Dispose();
    }
}
