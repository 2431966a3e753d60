using System.CommandLine;
using PciKit.Config;
using PciKit.Devices;
using PciKit.Driver;
using PciKit.Host;
using PciKit.Inspection;

namespace PciKit.Cli.Commands;

internal static class LspciCommand
{
    private const string PciIdsPath = "/usr/share/misc/pci.ids";

    public static Command Create(TextWriter stdout)
    {
        var device = new Option<string>("--device", "-d") { Description = "Built-in device model to show (see 'pcikit devices')." };
        var vfioUser = new Option<string>("--vfio-user") { Description = "Show the device a vfio-user server serves at this socket (read through PciKit's client)." };
        var v1 = new Option<bool>("-v") { Description = "Verbose: show details." };
        var v2 = new Option<bool>("-vv") { Description = "Very verbose: decode registers." };
        var v3 = new Option<bool>("-vvv") { Description = "Everything lspci -vvv shows." };
        var x1 = new Option<bool>("-x") { Description = "Hex dump of the standard header (64 bytes), in the format 'lspci -F' reads." };
        var x3 = new Option<bool>("-xxx") { Description = "Hex dump of the 256-byte configuration space." };
        var x4 = new Option<bool>("-xxxx") { Description = "Hex dump of the 4096-byte extended configuration space." };
        var nn = new Option<bool>("-nn") { Description = "Show numeric IDs beside the names." };
        var command = new Command("lspci", "Show a built-in device's configuration space the way lspci shows hardware (after firmware assigned its BARs).")
        {
            device, vfioUser, v1, v2, v3, x1, x3, x4, nn,
        };
        command.SetAction(parse =>
        {
            string? modelName = parse.GetValue(device), socket = parse.GetValue(vfioUser);
            if ((modelName is null) == (socket is null)) throw new CliUsageException("lspci needs exactly one of --device MODEL or --vfio-user SOCKET");
            int verbosity = parse.GetValue(v3) ? 3 : parse.GetValue(v2) ? 2 : parse.GetValue(v1) ? 1 : 0;
            int hex = parse.GetValue(x4) ? 3 : parse.GetValue(x3) ? 2 : parse.GetValue(x1) ? 1 : 0;
            stdout.Write(socket is null
                ? Render(DeviceCatalog.Get(modelName!).Name, verbosity, hex, parse.GetValue(nn), LoadNames())
                : RenderVfioUser(socket, verbosity, hex, parse.GetValue(nn), LoadNames()));
            return 0;
        });
        return command;
    }

    /// <summary>Attaches a fresh instance of <paramref name="modelName"/> to an in-process bus and formats it.</summary>
    internal static string Render(string modelName, int verbosity, int hexLevel, bool numericIds = false, PciIdDatabase? names = null)
    {
        using var bus = new PciHostBus();
        var device = DeviceCatalog.Get(modelName).Create();
        var address = bus.Attach(device);
        using var function = bus.GetFunction(address);
        return Format(function, address.ToShortString(), device.Config.Get8(PciHeader.InterruptLine), verbosity, hexLevel, numericIds, names);
    }

    /// <summary>Reads a vfio-user device's configuration space and region sizes through PciKit's client and formats it.</summary>
    internal static string RenderVfioUser(string socket, int verbosity, int hexLevel, bool numericIds = false, PciIdDatabase? names = null)
    {
        using var function = VfioUser.Client.VfioUserClient.Open(socket);
        return Format(function, "00:00.0", irq: null, verbosity, hexLevel, numericIds, names);
    }

    /// <summary>Formats any function through the driver API: its configuration space and BAR sizes, as lspci would.</summary>
    private static string Format(PciFunction function, string slot, int? irq, int verbosity, int hexLevel, bool numericIds, PciIdDatabase? names)
    {
        function.Open();
        var config = new byte[function.ConfigSpaceSize];
        for (int i = 0; i < config.Length; i += 4) BitConverter.TryWriteBytes(config.AsSpan(i), function.ConfigRead32(i));
        var regions = new LspciRegion[7];
        for (int i = 0; i < regions.Length; i++)
        {
            var info = function.GetBarInfo(i);
            if (info.IsImplemented) regions[i] = new LspciRegion(info.Address, info.Size, info.Kind == PciBarKind.Io ? LspciRegionKind.Io : LspciRegionKind.Memory);
        }
        return LspciFormatter.Format(config, new LspciOptions
        {
            Slot = slot,
            Verbosity = verbosity,
            HexLevel = hexLevel,
            NumericIds = numericIds,
            Regions = regions,
            Names = names,
            Irq = irq,
        });
    }

    private static PciIdDatabase? LoadNames()
    {
        if (!File.Exists(PciIdsPath)) return null;
        using var reader = File.OpenText(PciIdsPath);
        return PciIdDatabase.Parse(reader);
    }
}
