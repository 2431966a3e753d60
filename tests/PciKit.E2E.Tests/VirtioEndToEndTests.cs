using System.Security.Cryptography;
using System.Text.RegularExpressions;
using PciKit.Devices.Virtio;
using PciKit.Devices.Virtio.Blk;
using PciKit.Vm;

namespace PciKit.E2E.Tests;

/// <summary>
/// Debian 6.1's stock virtio_pci, virtio_rng and virtio_blk drive PciKit's C# virtio devices over vfio-user (QEMU
/// 10.2, TCG): with MSI-X (the default) and without it (INTx and the ISR), and across a driver unbind/rebind, which
/// resets the device.
/// </summary>
public sealed class VirtioEndToEndTests : IDisposable
{
    private readonly string _image = Path.Combine(Path.GetTempPath(), $"pcikit-e2e-{Guid.NewGuid():n}.img");

    public void Dispose() => File.Delete(_image);

    /// <summary>Finds the PCI function by vendor:device and names its drivers; then rebinds virtio-pci when asked.</summary>
    private static string Find(string deviceId) => $$"""
        dev=
        for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor) $(cat $d/device)" = "0x1af4 {{deviceId}}" ] && dev=${d##*/}; done
        [ -n "$dev" ] || { echo "NO-DEVICE"; exit 3; }
        vdev=$(ls -d /sys/bus/pci/devices/$dev/virtio* | head -n1)
        echo "PCI-DRIVER=$(basename $(readlink /sys/bus/pci/devices/$dev/driver))"
        echo "VIRTIO-DRIVER=$(basename $(readlink $vdev/driver))"
        echo "IRQ-KINDS=$(grep virtio /proc/interrupts | awk '{print $3}' | sort -u | tr '\n' ' ')"
        rebind() {
          echo $dev > /sys/bus/pci/drivers/virtio-pci/unbind
          echo "UNBOUND=$(ls /sys/bus/pci/devices/$dev/driver 2>/dev/null | wc -l)"
          echo $dev > /sys/bus/pci/drivers/virtio-pci/bind
          for i in 1 2 3 4 5 6 7 8 9 10; do [ -e "$1" ] && break; sleep 0.2; done
        }
        """;

    private static string RngScript(bool rebind) => Find("0x1044") + """

        echo "RNG-CURRENT=$(cat /sys/class/misc/hw_random/rng_current)"
        echo "RNG-BYTES=$(dd if=/dev/hwrng bs=1024 count=64 2>/dev/null | wc -c)"
        """ + (rebind ? """

        rebind /dev/hwrng
        sleep 0.5
        echo "REBOUND-RNG-CURRENT=$(cat /sys/class/misc/hw_random/rng_current)"
        echo "REBOUND-RNG-BYTES=$(dd if=/dev/hwrng bs=1024 count=64 2>/dev/null | wc -c)"
        """ : "");

    private static string BlkScript(bool rebind) => Find("0x1042") + """

        echo "SIZE=$(cat /sys/block/vda/size)"
        echo "SERIAL=$(cat /sys/block/vda/serial)"
        head -c 1048576 /dev/urandom > /tmp/p
        dd if=/tmp/p of=/dev/vda bs=65536 seek=16 conv=fsync 2>/dev/null && echo "WRITE=ok"
        sync
        echo 3 > /proc/sys/vm/drop_caches
        echo "PATTERN=$(md5sum < /tmp/p | cut -d' ' -f1)"
        echo "READBACK=$(dd if=/dev/vda bs=65536 skip=16 count=16 2>/dev/null | md5sum | cut -d' ' -f1)"
        """ + (rebind ? """

        rebind /dev/vda
        echo "REBOUND-READBACK=$(dd if=/dev/vda bs=65536 skip=16 count=16 2>/dev/null | md5sum | cut -d' ' -f1)"
        """ : "");

    [Fact]
    public void Virtio_rng_binds_and_feeds_dev_hwrng_with_msix()
    {
        var device = new VirtioRngDevice();
        var run = Boot(device, RngScript(rebind: true));
        AssertRng(run, device, rebound: true);
        Assert.Equal("PCI-MSI", run["IRQ-KINDS"]);
        Assert.True(device.Counters.MessagesSentCount > 0, run.ToString());
    }

    [Fact]
    public void Virtio_rng_works_over_intx_when_the_device_has_no_msix()
    {
        var device = new VirtioRngDevice(new VirtioPciOptions { MsiX = false });
        var run = Boot(device, RngScript(rebind: false));
        AssertRng(run, device, rebound: false);
        Assert.Equal("IO-APIC", run["IRQ-KINDS"]);
        Assert.Equal(0, device.Counters.MessagesSentCount);
    }

    [Fact]
    public void Virtio_rng_works_over_intx_when_the_guest_turns_msi_off()
    {
        var device = new VirtioRngDevice();
        var run = Boot(device, RngScript(rebind: false), kernelArgs: "pci=nomsi");
        AssertRng(run, device, rebound: false);
        Assert.Equal("IO-APIC", run["IRQ-KINDS"]);
    }

    [Fact]
    public void Virtio_blk_binds_and_a_pattern_written_in_the_guest_reads_back_and_lands_in_the_image_with_msix()
    {
        using var device = BlkDevice(16 << 20, new VirtioPciOptions());
        var run = Boot(device, BlkScript(rebind: true));
        AssertBlk(run, device, 16 << 20, rebound: true);
        Assert.Equal("PCI-MSI", run["IRQ-KINDS"]);
    }

    [Fact]
    public void Virtio_blk_works_over_intx_when_the_device_has_no_msix()
    {
        using var device = BlkDevice(8 << 20, new VirtioPciOptions { MsiX = false });
        var run = Boot(device, BlkScript(rebind: true));
        AssertBlk(run, device, 8 << 20, rebound: true);
        Assert.Equal("IO-APIC", run["IRQ-KINDS"]);
    }

    private VirtioBlkDevice BlkDevice(long size, VirtioPciOptions transport)
    {
        using (var fs = File.Create(_image)) fs.SetLength(size);
        return new VirtioBlkDevice(FileBlockBackend.Open(_image), new VirtioBlkOptions { Serial = "e2e-disk-7", Transport = transport });
    }

    private static void AssertRng(GuestRun run, VirtioRngDevice device, bool rebound)
    {
        Assert.True(run.Result.ExitCode == 0, run.ToString());
        Assert.True(run["PCI-DRIVER"] == "virtio-pci", run.ToString());
        Assert.True(run["VIRTIO-DRIVER"] == "virtio_rng", run.ToString());
        Assert.Matches(new Regex("^virtio_rng\\.\\d+$"), run["RNG-CURRENT"]);
        Assert.True(run["RNG-BYTES"] == "65536", run.ToString());
        Assert.True(device.BytesProvided >= 65536, $"{device.BytesProvided} bytes provided\n{run}");
        Assert.Equal(0, device.NeedsResetEvents);
        if (rebound)
        {
            Assert.True(run["UNBOUND"] == "0", run.ToString());
            Assert.Matches(new Regex("^virtio_rng\\.\\d+$"), run["REBOUND-RNG-CURRENT"]);
            Assert.True(run["REBOUND-RNG-BYTES"] == "65536", run.ToString());
            Assert.True(device.BytesProvided >= 2 * 65536, run.ToString());
            Assert.True(device.DriverResets >= 3, $"{device.DriverResets} driver resets (probe, remove, probe again)\n{run}");
        }
    }

    private void AssertBlk(GuestRun run, VirtioBlkDevice device, long size, bool rebound)
    {
        Assert.True(run.Result.ExitCode == 0, run.ToString());
        Assert.True(run["PCI-DRIVER"] == "virtio-pci", run.ToString());
        Assert.True(run["VIRTIO-DRIVER"] == "virtio_blk", run.ToString());
        Assert.Equal((size / 512).ToString(), run["SIZE"]);
        Assert.Equal("e2e-disk-7", run["SERIAL"]);
        Assert.True(run["WRITE"] == "ok", run.ToString());
        string? pattern = run["PATTERN"];
        Assert.Matches(new Regex("^[0-9a-f]{32}$"), pattern);
        Assert.Equal(pattern, run["READBACK"]);
        Assert.True(device.Flushes > 0, "conv=fsync reached the device as no flush");
        Assert.True(device.BytesWritten >= 1 << 20, $"{device.BytesWritten} bytes written");
        Assert.Equal(0, device.NeedsResetEvents);
        device.Dispose(); // closes the image
        using var image = File.OpenRead(_image);
        image.Position = 1 << 20;
        var region = new byte[1 << 20];
        image.ReadExactly(region);
        Assert.Equal(pattern, Convert.ToHexStringLower(MD5.HashData(region)));
        if (rebound)
        {
            Assert.True(run["UNBOUND"] == "0", run.ToString());
            Assert.Equal(pattern, run["REBOUND-READBACK"]);
            Assert.True(device.DriverResets >= 3, $"{device.DriverResets} driver resets (probe, remove, probe again)\n{run}");
        }
    }

    private static GuestRun Boot(PciKit.Device.PciDevice device, string script, string kernelArgs = "")
    {
        var progress = new StringWriter();
        var result = VmRunner.Run(new VmOptions
        {
            Device = device,
            Transport = VmTransport.VfioUser,
            Command = script,
            ExtraKernelArgs = kernelArgs,
            Timeout = TimeSpan.FromMinutes(3),
            Progress = progress,
        });
        return new GuestRun(result, progress.ToString());
    }
}
