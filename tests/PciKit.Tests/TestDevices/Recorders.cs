using PciKit.Config;
using PciKit.Device;

namespace PciKit.Tests.TestDevices;

/// <summary>An interrupt sink that records what the device emits.</summary>
public sealed class RecordingSink : IInterruptSink
{
    public List<MsiMessage> Messages { get; } = [];
    public List<bool> IntxChanges { get; } = [];
    public bool IntxLine { get; private set; }

    public void SetIntx(bool asserted)
    {
        IntxLine = asserted;
        IntxChanges.Add(asserted);
    }

    public void SendMessage(in MsiMessage message) => Messages.Add(message);
}

public static class DeviceExtensions
{
    /// <summary>Runs <paramref name="action"/> under the device lock, as device code (timers, handlers) does.</summary>
    public static T Locked<T>(this PciDevice device, Func<T> action)
    {
        using var _ = device.SyncRoot.EnterScope();
        return action();
    }

    public static void Locked(this PciDevice device, Action action)
    {
        using var _ = device.SyncRoot.EnterScope();
        action();
    }

    public static ushort Command(this PciDevice device) => (ushort)device.ConfigRead(PciHeader.Command, 2);
    public static ushort Status(this PciDevice device) => (ushort)device.ConfigRead(PciHeader.Status, 2);
    public static void SetCommand(this PciDevice device, PciCommand bits) =>
        device.ConfigWrite(PciHeader.Command, 2, (uint)bits);
}
