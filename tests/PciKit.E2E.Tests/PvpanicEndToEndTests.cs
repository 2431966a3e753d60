using PciKit.Devices.Pvpanic;
using PciKit.Vm;

namespace PciKit.E2E.Tests;

/// <summary>Linux's stock pvpanic-pci driver binds to a C# device by its own ID table (modalias), over QEMU 7.2's proxy.</summary>
public sealed class PvpanicEndToEndTests
{
    [Fact]
    public void The_stock_pvpanic_pci_driver_binds_and_its_bar_accesses_reach_the_device()
    {
        var device = new PvpanicDevice();
        var result = VmRunner.Run(new VmOptions
        {
            Device = device,
            Transport = VmTransport.Proxy,
            Command = """
                for d in /sys/bus/pci/devices/*; do
                  if [ "$(cat $d/vendor):$(cat $d/device)" = "0x1b36:0x0011" ]; then
                    echo "DRIVER=$(basename $(readlink $d/driver))"
                    echo "CAPABILITY=$(cat $d/capability)"
                  fi
                done
                """,
            Timeout = TimeSpan.FromMinutes(3),
        });
        Assert.True(result.ExitCode == 0, result.Console);
        Assert.Contains("DRIVER=pvpanic-pci", result.Console);
        Assert.Contains($"CAPABILITY={PvpanicDevice.Panicked | PvpanicDevice.CrashLoaded}", result.Console);
        Assert.True(device.RegisterReads > 0, "the driver's read of the events register did not reach the C# device");
    }
}
