using PciKit.Device;
using PciKit.Devices.Edu;
using PciKit.Devices.Sample;

namespace PciKit.Devices;

/// <summary>A built-in device model: its name, what it is, and how to make one.</summary>
/// <param name="Name">The name the CLI uses (<c>--device NAME</c>).</param>
/// <param name="Description">One line.</param>
/// <param name="Create">Makes a new, realized instance.</param>
public sealed record DeviceModel(string Name, string Description, Func<PciDevice> Create);

/// <summary>The built-in device models.</summary>
public static class DeviceCatalog
{
    /// <summary>Every built-in model, in the order the CLI lists them.</summary>
    public static IReadOnlyList<DeviceModel> Models { get; } =
    [
        new("edu", "QEMU's educational device (1234:11e8): registers, factorial, DMA engine, INTx and MSI", () => new EduDevice()),
        new("sample", "PCI Express endpoint using every modelled capability: PM, MSI, MSI-X, PCIe/FLR, vendor, DSN; RAM BAR, I/O BAR, ROM", () => new SampleDevice()),
    ];

    /// <summary>Finds a model by name (case-insensitive), or throws <see cref="ArgumentException"/> listing the valid names.</summary>
    public static DeviceModel Get(string name) =>
        Models.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown device '{name}'; built-in devices: {string.Join(", ", Models.Select(m => m.Name))} (see 'pcikit devices')", nameof(name));
}
