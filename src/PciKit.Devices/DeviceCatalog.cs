using PciKit.Device;
using PciKit.Devices.Edu;
using PciKit.Devices.Ivshmem;
using PciKit.Devices.Pvpanic;
using PciKit.Devices.Sample;
using PciKit.Memory;

namespace PciKit.Devices;

/// <summary>A built-in device model: its name, what it is, and how to make one.</summary>
/// <param name="Name">The name the CLI uses (<c>--device NAME</c>).</param>
/// <param name="Description">One line.</param>
/// <param name="Factory">Makes a new, realized instance whose RAM comes from the given allocator.</param>
public sealed record DeviceModel(string Name, string Description, Func<IMemoryAllocator, PciDevice> Factory)
{
    /// <summary>Makes a new, realized instance; RAM BARs come from <paramref name="memory"/> (process memory by default).</summary>
    public PciDevice Create(IMemoryAllocator? memory = null) => Factory(memory ?? HeapMemoryAllocator.Instance);
}

/// <summary>The built-in device models.</summary>
public static class DeviceCatalog
{
    /// <summary>Every built-in model, in the order the CLI lists them.</summary>
    public static IReadOnlyList<DeviceModel> Models { get; } =
    [
        new("edu", "QEMU's educational device (1234:11e8): registers, factorial, DMA engine, INTx and MSI", _ => new EduDevice()),
        new("pvpanic", "pvpanic-pci identity (1b36:0011): Linux's stock pvpanic-pci driver binds to it", _ => new PvpanicDevice()),
        new("ivshmem-plain", "Inter-VM shared memory as QEMU's ivshmem-plain (1af4:1110): registers in BAR0, 4 MiB shared memory in BAR2, no interrupts",
            memory => new IvshmemDevice(new IvshmemOptions { Variant = IvshmemVariant.Plain, Allocator = memory })),
        new("ivshmem-doorbell", "QEMU's ivshmem-doorbell (1af4:1110): MSI-X in BAR1, 4 MiB in BAR2; alone on an in-process link (peer 0, 2 vectors): it can ring itself",
            memory => new IvshmemLoopback(vectors: 2).JoinDevice(new IvshmemOptions { Variant = IvshmemVariant.Doorbell, Allocator = memory })),
        new("sample", "PCI Express endpoint using every modelled capability: PM, MSI, MSI-X, PCIe/FLR, vendor, DSN; RAM BAR, I/O BAR, ROM", memory => new SampleDevice(memory: memory)),
    ];

    /// <summary>Finds a model by name (case-insensitive), or throws <see cref="ArgumentException"/> listing the valid names.</summary>
    public static DeviceModel Get(string name) =>
        Models.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown device '{name}'; built-in devices: {string.Join(", ", Models.Select(m => m.Name))} (see 'pcikit devices')", nameof(name));
}
