using PciKit.Device;
using PciKit.Devices.Edu;
using PciKit.Devices.Ivshmem;
using PciKit.Devices.Pvpanic;
using PciKit.Devices.Sample;
using PciKit.Devices.Virtio;
using PciKit.Devices.Virtio.Blk;
using PciKit.Memory;

namespace PciKit.Devices;

/// <summary>How to make a built-in model: where its RAM comes from, and the settings some models take.</summary>
public sealed record DeviceOptions
{
    /// <summary>Where RAM BARs (and memory-backed disks) come from; process memory by default.</summary>
    public IMemoryAllocator Memory { get; init; } = HeapMemoryAllocator.Instance;

    /// <summary>A disk image file (virtio-blk); null: an in-memory disk of <see cref="DiskSize"/> bytes.</summary>
    public string? Image { get; init; }

    /// <summary>Size of an in-memory disk (when there is no <see cref="Image"/>).</summary>
    public long DiskSize { get; init; } = 64 << 20;

    /// <summary>Serve the disk read-only.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>Offer MSI-X (virtio devices); false leaves only INTx.</summary>
    public bool MsiX { get; init; } = true;

    /// <summary>The guest sees the device behind an IOMMU: virtio devices offer VIRTIO_F_ACCESS_PLATFORM.</summary>
    public bool Iommu { get; init; }
}

/// <summary>A built-in device model: its name, what it is, and how to make one.</summary>
/// <param name="Name">The name the CLI uses (<c>--device NAME</c>).</param>
/// <param name="Description">One line.</param>
/// <param name="Factory">Makes a new, realized instance whose RAM comes from the given allocator.</param>
public sealed record DeviceModel(string Name, string Description, Func<IMemoryAllocator, PciDevice> Factory)
{
    /// <summary>Makes an instance from every option, for models that take more than an allocator (null: only <see cref="DeviceOptions.Memory"/> counts).</summary>
    public Func<DeviceOptions, PciDevice>? Configure { get; init; }

    /// <summary>Makes a new, realized instance; RAM BARs come from <paramref name="memory"/> (process memory by default).</summary>
    public PciDevice Create(IMemoryAllocator? memory = null) => Create(new DeviceOptions { Memory = memory ?? HeapMemoryAllocator.Instance });

    /// <summary>
    /// Makes a new, realized instance from <paramref name="options"/>. Throws <see cref="ArgumentException"/> when the
    /// model does not take an option that was set (an image for edu, say).
    /// </summary>
    public PciDevice Create(DeviceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (Configure is not null) return Configure(options);
        var defaults = new DeviceOptions { Memory = options.Memory, Iommu = options.Iommu };
        if (options != defaults)
            throw new ArgumentException($"{Name} takes no disk image, disk size, read-only or MSI-X setting; those are for virtio models (see 'pcikit devices')."); // no parameter name: the message is shown to CLI users as is
        return Factory(options.Memory);
    }
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
        new("ivshmem-doorbell", "QEMU's ivshmem-doorbell (1af4:1110): MSI-X in BAR1, 4 MiB in BAR2; alone on an in-process link (peer 0, 2 vectors), or on a server with --ivshmem-server SOCK",
            memory => new IvshmemLoopback(vectors: 2).JoinDevice(new IvshmemOptions { Variant = IvshmemVariant.Doorbell, Allocator = memory })),
        new("sample", "PCI Express endpoint using every modelled capability: PM, MSI, MSI-X, PCIe/FLR, vendor, DSN; RAM BAR, I/O BAR, ROM", memory => new SampleDevice(memory: memory)),
        new("virtio-blk", "virtio 1.x block device (1af4:1042) over --image FILE or memory; Linux's virtio_blk binds to it", memory => CreateBlk(new DeviceOptions { Memory = memory }))
        {
            Configure = CreateBlk,
        },
        new("virtio-rng", "virtio 1.x entropy device (1af4:1044) fed by the platform CSPRNG; Linux's virtio_rng binds to it", _ => new VirtioRngDevice())
        {
            Configure = CreateRng,
        },
    ];

    /// <summary>Finds a model by name (case-insensitive), or throws <see cref="ArgumentException"/> listing the valid names.</summary>
    public static DeviceModel Get(string name) =>
        Models.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown device '{name}'; built-in devices: {string.Join(", ", Models.Select(m => m.Name))} (see 'pcikit devices')", nameof(name));

    private static VirtioBlkDevice CreateBlk(DeviceOptions o)
    {
        BlockBackend backend = o.Image is { } image
            ? FileBlockBackend.Open(image, o.ReadOnly)
            : MemoryBlockBackend.Create(CheckedDiskSize(o.DiskSize), o.Memory, o.ReadOnly);
        try
        {
            return new VirtioBlkDevice(backend, new VirtioBlkOptions { Transport = new VirtioPciOptions { MsiX = o.MsiX, AccessPlatform = o.Iommu } });
        }
        catch
        {
            backend.Dispose();
            throw;
        }
    }

    private static long CheckedDiskSize(long size) => size >= 4096 && size % 512 == 0
        ? size
        : throw new ArgumentOutOfRangeException(nameof(size), size, "An in-memory disk is a whole number of 512-byte sectors, at least 4 KiB.");

    private static VirtioRngDevice CreateRng(DeviceOptions o)
    {
        if (o.Image is not null || o.ReadOnly || o.DiskSize != new DeviceOptions().DiskSize)
            throw new ArgumentException("virtio-rng takes no disk image, disk size or read-only setting.");
        return new VirtioRngDevice(new VirtioPciOptions { MsiX = o.MsiX, AccessPlatform = o.Iommu });
    }
}
