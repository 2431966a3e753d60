using PciKit.Device;
using PciKit.Devices.Edu;
using PciKit.Driver;
using PciKit.Host;

namespace PciKit.Tests.Edu;

/// <summary>The edu driver suite over the in-process host bus.</summary>
public sealed class InProcessEduDriverTests : EduDriverContract
{
    private readonly PciHostBus _bus = new();
    private readonly EduDevice _device = new();
    private readonly PciAddress _address;

    public InProcessEduDriverTests() => _address = _bus.Attach(_device);

    protected override PciFunction CreateFunction() => _bus.GetFunction(_address);

    protected override DeviceCounters? DeviceCounters => _device.Counters;

    public override void Dispose() => _bus.Dispose();

    [Fact]
    public void Dma_address_is_clamped_to_the_28_bit_mask()
    {
        using var driver = Drivers.Edu.EduDriver.Attach(CreateFunction());
        var f = driver.Function;
        using var buffer = f.AllocateDmaBuffer(16, addressBits: 28);
        buffer.Span.Fill(0x5A);
        driver.Dma(toDevice: true, buffer.DeviceAddress | (1UL << 40), 0, 16, interrupt: false, Timeout);
        buffer.Span.Clear();
        driver.Dma(toDevice: false, buffer.DeviceAddress, 0, 16, interrupt: false, Timeout);
        Assert.All(buffer.Span.ToArray(), b => Assert.Equal(0x5A, b));
    }
}
