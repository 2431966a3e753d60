using System.CommandLine;
using PciKit.Devices;
using PciKit.Memory;

namespace PciKit.Cli.Commands;

/// <summary>The options that configure a built-in model beyond its name (<c>--image</c>, <c>--read-only</c>, <c>--no-msix</c>), shared by serve and vm.</summary>
internal sealed class DeviceSettings
{
    private readonly Option<string?> _image = new("--image") { Description = "Disk image file for virtio-blk (it must exist; its size is the disk's size). Without it the disk is 64 MiB of memory." };
    private readonly Option<bool> _readOnly = new("--read-only") { Description = "virtio-blk: serve the disk read-only." };
    private readonly Option<bool> _noMsix = new("--no-msix") { Description = "virtio: omit MSI-X, so the guest driver uses INTx and the ISR register." };

    public void AddTo(Command command)
    {
        command.Options.Add(_image);
        command.Options.Add(_readOnly);
        command.Options.Add(_noMsix);
    }

    public DeviceOptions Read(ParseResult parse, IMemoryAllocator memory) => new()
    {
        Memory = memory,
        Image = parse.GetValue(_image),
        ReadOnly = parse.GetValue(_readOnly),
        MsiX = !parse.GetValue(_noMsix),
    };
}
