using System.CommandLine;
using PciKit.Device;
using PciKit.Devices;
using PciKit.Devices.Ivshmem;
using PciKit.Ivshmem;
using PciKit.Memory;

namespace PciKit.Cli.Commands;

/// <summary>The options that configure a built-in model beyond its name (<c>--image</c>, <c>--read-only</c>, <c>--no-msix</c>, <c>--ivshmem-server</c>), shared by serve and vm.</summary>
internal sealed class DeviceSettings
{
    private readonly Option<string?> _image = new("--image") { Description = "Disk image file for virtio-blk (it must exist; its size is the disk's size). Without it the disk is 64 MiB of memory." };
    private readonly Option<bool> _readOnly = new("--read-only") { Description = "virtio-blk: serve the disk read-only." };
    private readonly Option<bool> _noMsix = new("--no-msix") { Description = "virtio: omit MSI-X, so the guest driver uses INTx and the ISR register." };
    private readonly Option<string?> _ivshmemServer = new("--ivshmem-server") { Description = "ivshmem-doorbell: join this ivshmem server (pcikit ivshmem-server or QEMU's) as a peer; its id, shared memory and doorbells become the device's." };

    public void AddTo(Command command)
    {
        command.Options.Add(_image);
        command.Options.Add(_readOnly);
        command.Options.Add(_noMsix);
        command.Options.Add(_ivshmemServer);
    }

    /// <summary>True when an option that needs a device was given.</summary>
    public bool AnyGiven(ParseResult parse) =>
        parse.GetValue(_image) is not null || parse.GetValue(_readOnly) || parse.GetValue(_noMsix) || parse.GetValue(_ivshmemServer) is not null;

    /// <summary>
    /// Makes <paramref name="model"/>; <paramref name="owned"/> is what to dispose once the device is no longer served (a
    /// disk image, an ivshmem server seat), or null.
    /// </summary>
    public PciDevice Create(ParseResult parse, DeviceModel model, DeviceOptions options, out IDisposable? owned)
    {
        string? ivshmemServer = parse.GetValue(_ivshmemServer);
        if (ivshmemServer is null)
        {
            var instance = model.Create(options);
            owned = instance as IDisposable;
            return instance;
        }
        if (model.Name != "ivshmem-doorbell")
            throw new CliUsageException($"--ivshmem-server is for --device ivshmem-doorbell, not {model.Name}");
        try
        {
            var joined = IvshmemServerDevice.Connect(ivshmemServer, IvshmemVariant.Doorbell);
            owned = joined;
            return joined.Device;
        }
        catch (IvshmemException e)
        {
            throw new CliUsageException($"cannot join the ivshmem server at {ivshmemServer}: {e.Message}");
        }
    }

    public DeviceOptions Read(ParseResult parse, IMemoryAllocator memory) => new()
    {
        Memory = memory,
        Image = parse.GetValue(_image),
        ReadOnly = parse.GetValue(_readOnly),
        MsiX = !parse.GetValue(_noMsix),
    };
}
