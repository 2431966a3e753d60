using PciKit.Config;
using PciKit.Devices.Edu;
using PciKit.Devices.Sample;
using PciKit.Driver;
using PciKit.Host;

namespace PciKit.Benchmarks;

/// <summary>
/// An in-process host bus with an edu device and a sample device attached, each opened through the driver API
/// with Memory Space (and Bus Master) enabled, as a driver would have it after probing.
/// </summary>
internal sealed class Fixture : IDisposable
{
    public Fixture()
    {
        Bus = new PciHostBus();
        Edu = new EduDevice();
        Sample = new SampleDevice();
        EduFunction = Bus.GetFunction(Bus.Attach(Edu));
        SampleFunction = Bus.GetFunction(Bus.Attach(Sample));
        EduFunction.Open();
        SampleFunction.Open();
        EduFunction.SetCommand(PciCommand.MemorySpace | PciCommand.BusMaster);
        SampleFunction.SetCommand(PciCommand.MemorySpace | PciCommand.IoSpace | PciCommand.BusMaster);
        if (!Edu.IsDecoding(0) || !Sample.IsDecoding(0) || !Sample.IsDecoding(2))
            throw new InvalidOperationException("fixture: BARs are not decoding");
    }

    public PciHostBus Bus { get; }
    public EduDevice Edu { get; }
    public SampleDevice Sample { get; }
    public PciFunction EduFunction { get; }
    public PciFunction SampleFunction { get; }

    public void Dispose()
    {
        EduFunction.Dispose();
        SampleFunction.Dispose();
        Bus.Dispose();
    }
}
