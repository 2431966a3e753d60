using PciKit.Config;
using PciKit.Devices.Sample;
using PciKit.Linux.Memory;
using PciKit.VfioUser.Client;
using PciKit.VfioUser.Server;

namespace PciKit.VfioUser.Tests.Client;

/// <summary>A RAM BAR served over vfio-user from shared memory is mapped by the client: both sides see one memory.</summary>
public sealed class ClientBarMappingLoopbackTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("pkvu").FullName;
    private readonly SampleDevice _device = new(memory: SharedMemoryAllocator.Instance);
    private readonly VfioUserServer _server;

    public ClientBarMappingLoopbackTests() => _server = VfioUserServer.Start(_device, Path.Combine(_directory, "sample.sock"));

    public void Dispose()
    {
        _server.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void The_ram_bar_is_mmap_able_and_shared_with_the_device()
    {
        using var function = VfioUserClient.Open(_server.SocketPath);
        function.Open();
        function.SetCommand(PciCommand.MemorySpace);
        var info = function.GetBarInfo(2);
        Assert.Equal(PciBarKind.Memory64, info.Kind);
        Assert.True(info.Prefetchable);
        using var mapping = function.MapBar(2);
        Assert.Equal(SampleDevice.RamSize, mapping.Length);
        mapping.Write<ulong>(0x800, 0x0123_4567_89ab_cdef);
        Assert.Equal(0x0123_4567_89ab_cdefUL, function.MemoryRead64(2, 0x800));  // REGION_READ sees the mapped write
        function.MemoryWrite32(2, 0xFFFFC, 0xfeedbeef);                          // REGION_WRITE is seen through the mapping
        Assert.Equal(0xfeedbeefu, mapping.Read<uint>(0xFFFFC));
        Assert.Throws<PciDriverException>(() => function.MapBar(0));               // registers (and the MSI-X table) are trapped
    }

    [Fact]
    public void A_mapping_dies_with_the_session()
    {
        using var function = VfioUserClient.Open(_server.SocketPath);
        function.Open();
        var mapping = function.MapBar(2);
        function.Close();
        Assert.Throws<ObjectDisposedException>(() => mapping.Read<byte>(0));
    }
}
