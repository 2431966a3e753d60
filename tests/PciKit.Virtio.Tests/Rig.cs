using PciKit.Testing;
using PciKit.Device;
using PciKit.Devices.Virtio;
using PciKit.Driver;
using PciKit.Host;

namespace PciKit.Virtio.Tests;

/// <summary>A virtio device on the in-process host bus with a test driver attached; the log lines are kept.</summary>
internal sealed class Rig<T> : IDisposable where T : VirtioPciDevice
{
    public Rig(T device)
    {
        Log = new ListLog();
        Bus = new PciHostBus(Log);
        Device = device;
        Function = Bus.GetFunction(Bus.Attach(device));
        Driver = new VirtioTestDriver(Function);
    }

    public PciHostBus Bus { get; }
    public T Device { get; }
    public PciFunction Function { get; }
    public VirtioTestDriver Driver { get; }
    public ListLog Log { get; }

    public void Dispose()
    {
        Function.Dispose();
        Bus.Dispose();
        (Device as IDisposable)?.Dispose();
    }
}
