using PciKit.Config;
using PciKit.Devices.Ivshmem;
using PciKit.Linux.Memory;
using PciKit.VfioUser.Client;
using PciKit.VfioUser.Server;

namespace PciKit.UserClient.Tests;

/// <summary>
/// The ivshmem model served over vfio-user, opened by a driver with the vfio-user client: the driver's BAR2 mapping is
/// the server's memfd (received with the region info), and the driver hands it on to an app.
/// </summary>
public sealed class VfioUserBackendTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pkucv").FullName;
    private readonly IvshmemDevice _device = new(new IvshmemOptions { Allocator = SharedMemoryAllocator.Instance, SharedMemorySize = 1 << 20 });
    private readonly VfioUserServer _server;

    public VfioUserBackendTests() => _server = VfioUserServer.Start(_device, Path.Combine(_dir, "ivshmem.sock"));

    public void Dispose()
    {
        _server.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void An_app_writes_BAR2_of_a_vfio_user_device_and_the_device_sees_it()
    {
        using var function = VfioUserClient.Open(_server.SocketPath);
        function.Open();
        function.SetCommand(PciCommand.MemorySpace);
        using var bar2 = function.MapBar(2);
        Assert.True(bar2.TryGetFile(out var file, out ulong offset));
        Assert.Equal(0UL, offset);
        Assert.StartsWith("/memfd:pcikit-ivshmem", new FileInfo($"/proc/self/fd/{file.DangerousGetHandle()}").LinkTarget, StringComparison.Ordinal);

        using var service = UserClientService.Start(Path.Combine(_dir, "uc.sock"));
        service.AddMemory(0, bar2);
        using var app = UserClientConnection.Connect(service.SocketPath);
        using var memory = app.MapMemory(0);
        memory.CopyFrom(0x100, "hello from the app"u8);

        var seen = new byte[18];
        _device.SharedMemory.CopyTo(0x100, seen);
        Assert.Equal("hello from the app", System.Text.Encoding.ASCII.GetString(seen));
        Assert.Equal(0x6c6c6568u, function.MemoryRead32(2, 0x100)); // REGION_READ through the server: "hell"
    }

    [Fact]
    public void The_mapping_keeps_its_own_descriptor_until_it_is_disposed()
    {
        using var function = VfioUserClient.Open(_server.SocketPath);
        function.Open();
        var bar2 = function.MapBar(2);
        Assert.True(bar2.TryGetFile(out var file, out _));
        bar2.Dispose();
        Assert.True(file.IsClosed);
        Assert.Throws<ObjectDisposedException>(() => bar2.TryGetFile(out _, out _));
    }
}
