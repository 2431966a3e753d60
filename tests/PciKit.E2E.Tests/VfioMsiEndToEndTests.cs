using System.Text.RegularExpressions;
using PciKit.Devices.Edu;
using PciKit.Devices.Sample;
using PciKit.Vm;

namespace PciKit.E2E.Tests;

/// <summary>
/// A user-space driver in the guest (guest/helpers/vfiotest.c) drives the device through the guest's stock vfio-pci
/// behind QEMU's emulated Intel IOMMU: MSI-X and MSI arrive on eventfds, and DMA walks IOVAs that the IOMMU maps as
/// separate 4 KiB pages (each its own DMA region for a vfio-user server). QEMU's own edu in the same VM is the oracle.
/// </summary>
public sealed class VfioMsiEndToEndTests
{
    /// <summary>Loads vfio (no interrupt remapping: unsafe interrupts allowed) and finds the device by vendor:device.</summary>
    private static string Script(string vendorDevice, string commands) => $$"""
        modprobe vfio_iommu_type1 allow_unsafe_interrupts=1 && modprobe vfio-pci || { echo "NO-VFIO"; exit 3; }
        echo Y > /sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts
        dev=
        for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor) $(cat $d/device)" = "{{vendorDevice}}" ] && dev=${d##*/}; done
        [ -n "$dev" ] || { echo "NO-DEVICE"; exit 3; }
        echo "DEV=$dev"
        {{commands}}
        """;

    private const string EduCommands = """
        vfiotest $dev msi 3 0x60 0x64; echo "MSI-RC=$?"
        vfiotest $dev dma; echo "DMA-RC=$?"
        """;

    [Fact]
    public void Msix_vectors_of_the_sample_device_reach_a_vfio_user_space_driver()
    {
        var device = new SampleDevice();
        var run = Boot(new VmOptions
        {
            Device = device,
            Transport = VmTransport.VfioUser,
            Iommu = true,
            Command = Script("0x1b36 0x00fe", "vfiotest $dev msix 4 2 0x8; echo \"MSIX-RC=$?\""),
        });
        Assert.True(run.Result.ExitCode == 0, run.ToString());
        Assert.True(run["MSIX-RC"] == "0", run.ToString());
        Assert.Matches(new Regex("^MSIX-OK 8\\s*$", RegexOptions.Multiline), run.Result.Console);
        for (int v = 0; v < 4; v++)
            Assert.Equal(2, Regex.Matches(run.Result.Console, $"^msix v={v} count=1\\s*$", RegexOptions.Multiline).Count);
        Assert.True(device.Counters.MessagesSentCount >= 8, $"{device.Counters.MessagesSentCount} MSI-X messages sent\n{run}");
        Assert.Equal(0, device.Counters.MessagesBlockedByBusMasterCount);
    }

    [Fact]
    public void Msi_and_dma_across_iommu_pages_work_with_pciKits_edu_over_vfio_user()
    {
        var device = new EduDevice();
        var run = Boot(new VmOptions { Device = device, Transport = VmTransport.VfioUser, Iommu = true, Command = Script("0x1234 0x11e8", EduCommands) });
        AssertEdu(run);
        Assert.True(device.Counters.MessagesSentCount >= 3, $"{device.Counters.MessagesSentCount} MSI messages sent\n{run}");
        Assert.Equal(0, device.Counters.DmaFaultCount);
    }

    [Fact]
    public void Msi_and_dma_across_iommu_pages_work_with_qemus_own_edu()
    {
        var run = Boot(new VmOptions { QemuDevices = ["edu"], Iommu = true, Command = Script("0x1234 0x11e8", EduCommands) });
        AssertEdu(run);
    }

    private static void AssertEdu(GuestRun run)
    {
        Assert.True(run.Result.ExitCode == 0, run.ToString());
        Assert.True(run["MSI-RC"] == "0", run.ToString());
        Assert.Matches(new Regex("^MSI-OK 3\\s*$", RegexOptions.Multiline), run.Result.Console);
        Assert.True(run["DMA-RC"] == "0", run.ToString());
        Assert.Matches(new Regex("^DMA-OK\\s*$", RegexOptions.Multiline), run.Result.Console);
    }

    private static GuestRun Boot(VmOptions options)
    {
        var progress = new StringWriter();
        var result = VmRunner.Run(options with { Accel = VmAccel.Auto, Timeout = TimeSpan.FromMinutes(3), Progress = progress });
        return new GuestRun(result, progress.ToString());
    }
}
