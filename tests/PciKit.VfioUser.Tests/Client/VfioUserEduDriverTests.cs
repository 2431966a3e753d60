using PciKit.Device;
using PciKit.Devices.Edu;
using PciKit.Driver;
using PciKit.Tests.Edu;
using PciKit.VfioUser.Client;
using PciKit.VfioUser.Server;

namespace PciKit.VfioUser.Tests.Client;

/// <summary>The edu driver suite over a vfio-user loopback: an edu device served by <see cref="VfioUserServer"/>, driven through <see cref="VfioUserClient"/>.</summary>
public abstract class VfioUserEduDriverTests : EduDriverContract
{
    private readonly string _directory = Directory.CreateTempSubdirectory("pkvu").FullName;
    private readonly EduDevice _device = new();
    private readonly VfioUserServer _server;
    private readonly List<PciFunction> _functions = [];

    protected VfioUserEduDriverTests() => _server = VfioUserServer.Start(_device, Path.Combine(_directory, "edu.sock"));

    protected abstract DmaMode Mode { get; }

    protected override PciFunction CreateFunction()
    {
        var function = VfioUserClient.Open(_server.SocketPath, new VfioUserClientOptions { DmaMode = Mode });
        _functions.Add(function);
        return function;
    }

    // The device is in this process, so its counters are visible; a remote device's would not be.
    protected override DeviceCounters? DeviceCounters => _device.Counters;

    public override void Dispose()
    {
        foreach (var f in _functions) f.Dispose();
        _server.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}

public sealed class VfioUserEduDriverSharedMemoryTests : VfioUserEduDriverTests
{
    protected override DmaMode Mode => DmaMode.SharedMemory;
}

public sealed class VfioUserEduDriverMessageDmaTests : VfioUserEduDriverTests
{
    protected override DmaMode Mode => DmaMode.Messages;
}
