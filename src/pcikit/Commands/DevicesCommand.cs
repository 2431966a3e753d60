using System.CommandLine;
using PciKit.Devices;

namespace PciKit.Cli.Commands;

internal static class DevicesCommand
{
    public static Command Create(TextWriter stdout)
    {
        var command = new Command("devices", "List the built-in device models.");
        command.SetAction(_ =>
        {
            int width = DeviceCatalog.Models.Max(m => m.Name.Length);
            foreach (var model in DeviceCatalog.Models)
            {
                var d = model.Create();
                stdout.WriteLine($"{model.Name.PadRight(width)}  {d.Identity.VendorId:x4}:{d.Identity.DeviceId:x4}  {model.Description}");
            }
            return 0;
        });
        return command;
    }
}
