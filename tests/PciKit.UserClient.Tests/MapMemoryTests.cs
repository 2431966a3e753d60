using PciKit.Devices.Ivshmem;
using PciKit.Host;
using PciKit.Linux;

namespace PciKit.UserClient.Tests;

/// <summary>An app maps a driver's BAR2 through the service: one memory, shared with the device; read-only enforced by the descriptor.</summary>
public sealed class MapMemoryTests : IDisposable
{
    private readonly DriverFixture _driver = new();

    public void Dispose() => _driver.Dispose();

    [Fact]
    public void The_app_maps_BAR2_and_both_sides_see_one_memory()
    {
        using var app = UserClientConnection.Connect(_driver.SocketPath);
        using var memory = app.MapMemory(0);

        Assert.Equal(DriverFixture.Size, memory.Length);
        Assert.False(memory.IsReadOnly);
        memory.Write<ulong>(0x1000, 0x1122_3344_5566_7788);
        Assert.Equal(0x5566_7788u, _driver.Function.MemoryRead32(2, 0x1000)); // through the device's BAR
        Assert.Equal(0x1122_3344_5566_7788UL, _driver.Device.SharedMemory.Read<ulong>(0x1000));
        _driver.Bar2.Write<uint>(DriverFixture.Size - 4, 0xCAFE_F00D);
        Assert.Equal(0xCAFE_F00Du, memory.Read<uint>(DriverFixture.Size - 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => memory.Read<uint>(DriverFixture.Size - 2));
        // The service counts a grant once its reply is sent, which the app may see first.
        Assert.True(SpinWait.SpinUntil(() => _driver.Service.Granted == 1, TimeSpan.FromSeconds(5)), $"granted {_driver.Service.Granted}");
    }

    [Fact]
    public void The_descriptor_arrives_as_a_new_fd_of_the_same_memfd()
    {
        using var app = UserClientConnection.Connect(_driver.SocketPath);
        using var grant = app.RequestMemory(0);

        Assert.Equal((0UL, DriverFixture.Size, false), (grant.FileOffset, grant.Length, grant.IsReadOnly));
        Assert.NotEqual(_driver.Memory.Fd!.DangerousGetHandle(), grant.File.DangerousGetHandle());
        Assert.StartsWith("/memfd:pk-ivshmem-test", new FileInfo($"/proc/self/fd/{grant.File.DangerousGetHandle()}").LinkTarget, StringComparison.Ordinal);
        Assert.True(grant.File.IsWritable);
        Assert.True(grant.File.IsCloseOnExec);
    }

    [Fact]
    public void A_read_only_grant_cannot_be_mapped_writable()
    {
        _driver.Bar2.Write<uint>(0x20, 0x600D);
        using var app = UserClientConnection.Connect(_driver.SocketPath);
        using var grant = app.RequestMemory(0, readOnly: true);

        Assert.True(grant.IsReadOnly);
        Assert.False(grant.File.IsWritable);
        var e = Assert.Throws<LinuxException>(() => MemoryMapping.Map(grant.File, 0, grant.Length, MappingAccess.ReadWrite));
        Assert.Equal("EACCES", e.ErrorName);
        using var readable = MemoryMapping.Map(grant.File, 0, grant.Length, MappingAccess.ReadOnly);
        Assert.Equal(0x600Du, readable.Read<uint>(0x20));
    }

    [Fact]
    public void A_read_only_mapping_reads_live_data_and_refuses_writes()
    {
        using var app = UserClientConnection.Connect(_driver.SocketPath);
        using var memory = app.MapMemory(0, readOnly: true);

        Assert.True(memory.IsReadOnly);
        _driver.Bar2.Write<uint>(0x30, 1);
        Assert.Equal(1u, memory.Read<uint>(0x30));
        _driver.Bar2.Write<uint>(0x30, 2);
        Assert.Equal(2u, memory.Read<uint>(0x30));
        Assert.Throws<InvalidOperationException>(() => memory.Write<uint>(0x30, 3));
        Assert.Equal(2u, _driver.Bar2.Read<uint>(0x30));
    }

    [Fact]
    public void A_type_offered_read_only_refuses_writable_requests_and_grants_read_only_ones()
    {
        _driver.Service.AddMemory(1, _driver.Bar2, readOnly: true);
        using var app = UserClientConnection.Connect(_driver.SocketPath);

        var e = Assert.Throws<UserClientException>(() => app.MapMemory(1));
        Assert.Equal(UserClientStatus.ReadOnlyType, e.Status);
        Assert.Contains("memory type 1 is offered read-only; ask for a read-only mapping", e.Message);
        using var memory = app.MapMemory(1, readOnly: true); // the same connection keeps serving
        Assert.True(memory.IsReadOnly);
    }

    [Fact]
    public void An_unknown_type_gets_a_clear_error_and_the_connection_keeps_serving()
    {
        using var app = UserClientConnection.Connect(_driver.SocketPath);

        var e = Assert.Throws<UserClientException>(() => app.MapMemory(7));
        Assert.Equal(UserClientStatus.UnknownType, e.Status);
        Assert.Contains("no memory of type 7 is offered", e.Message);
        using var memory = app.MapMemory(0);
        Assert.Equal(DriverFixture.Size, memory.Length);
        Assert.Equal(1, _driver.Service.Refused);
    }

    [Fact]
    public void A_sub_range_at_an_unaligned_offset_is_mapped_exactly()
    {
        using var part = _driver.Function.MapBar(2, 0x1010, 0x20);
        _driver.Service.AddMemory(2, part);
        _driver.Bar2.Write<ulong>(0x1010, 0xABCDEF);
        using var app = UserClientConnection.Connect(_driver.SocketPath);
        using var memory = app.MapMemory(2);

        Assert.Equal(0x20UL, memory.Length);
        Assert.Equal(0xABCDEFUL, memory.Read<ulong>(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => memory.Read<ulong>(0x20 - 4));
    }

    [Fact]
    public void Withdrawn_memory_is_refused_and_existing_mappings_stay_valid()
    {
        using var app = UserClientConnection.Connect(_driver.SocketPath);
        using var memory = app.MapMemory(0);

        Assert.True(_driver.Service.RemoveMemory(0));

        Assert.Equal(UserClientStatus.UnknownType, Assert.Throws<UserClientException>(() => app.MapMemory(0)).Status);
        memory.Write<uint>(8, 42);
        Assert.Equal(42u, _driver.Bar2.Read<uint>(8));
    }

    [Fact]
    public void Process_memory_is_refused_when_offered_with_a_message_that_says_what_to_do()
    {
        using var bus = new PciHostBus();
        using var function = bus.GetFunction(bus.Attach(new IvshmemDevice(new IvshmemOptions { SharedMemorySize = 4096 })));
        function.Open();
        using var heapBar = function.MapBar(2);

        Assert.False(heapBar.TryGetFile(out _, out _));
        var e = Assert.Throws<ArgumentException>(() => _driver.Service.AddMemory(3, heapBar));
        Assert.Contains("process memory", e.Message);
        Assert.Contains("SharedMemoryAllocator", e.Message);
    }

    [Fact]
    public void Disposing_the_service_disconnects_apps_and_removes_the_socket()
    {
        var app = UserClientConnection.Connect(_driver.SocketPath);
        using var memory = app.MapMemory(0);
        Assert.True(SpinWait.SpinUntil(() => _driver.Service.ClientCount == 1, TimeSpan.FromSeconds(30)));

        _driver.Service.Dispose();

        Assert.False(File.Exists(_driver.SocketPath));
        Assert.ThrowsAny<IOException>(() => app.MapMemory(0)); // EPIPE, or end of stream: the service hung up
        memory.Write<uint>(0, 5); // the app's mapping outlives the service
        Assert.Equal(5u, _driver.Bar2.Read<uint>(0));
        app.Dispose();
    }
}

public sealed class UnshareableMemoryTests
{
    [Fact]
    public void A_mapped_block_that_did_not_keep_its_descriptor_is_refused()
    {
        using var fd = PciKit.Linux.SharedMemory.CreateMemFd("pk-nokeep", 4096);
        using var block = PciKit.Linux.Memory.MappedMemoryBlock.Map(fd, 0, 4096, MappingAccess.ReadWrite, keepFd: false);
        using var bus = new PciHostBus();
        using var function = bus.GetFunction(bus.Attach(new IvshmemDevice(new IvshmemOptions { SharedMemory = block })));
        function.Open();
        using var bar2 = function.MapBar(2);
        string dir = Directory.CreateTempSubdirectory("pkun").FullName;
        try
        {
            using var service = UserClientService.Start(Path.Combine(dir, "uc.sock"));
            Assert.False(bar2.TryGetFile(out _, out _));
            Assert.Throws<ArgumentException>(() => service.AddMemory(0, bar2));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
