using PciKit.Capabilities;
using PciKit.Config;
using PciKit.Device;

namespace PciKit.Tests.TestDevices;

/// <summary>
/// A device whose definition is given by the test: the callback declares BARs, capabilities and command features
/// through <see cref="Definition"/> (which forwards to the protected definition API), then the device realizes.
/// Used where a test needs an unusual or invalid definition.
/// </summary>
public sealed class CustomDevice : PciDevice
{
    public CustomDevice(Action<Definition> define, PciIdentity? identity = null) : base(identity ?? TestIds.Plain)
    {
        define(new Definition(this));
        Realize();
    }

    public CustomDevice(PciIdentity identity) : this(_ => { }, identity) { }

    public sealed class Definition(CustomDevice device)
    {
        public PciBar Bar(int index, PciBar bar) => device.DefineBar(index, bar);
        public T Capability<T>(T capability, int? offset = null) where T : PciCapability => device.AddCapability(capability, offset);
        public T Extended<T>(T capability, int? offset = null) where T : PciExtendedCapability => device.AddExtendedCapability(capability, offset);
        public PciCommand CommandFeatures { set => device.CommandFeatures = value; }
    }
}

public static class TestIds
{
    public static PciIdentity Plain { get; } = new() { VendorId = 0x1234, DeviceId = 0x5678 };
    public static PciIdentity WithPin { get; } = Plain with { InterruptPin = PciInterruptPin.IntA };
}
