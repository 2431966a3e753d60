using PciKit.Devices.Ivshmem;
using PciKit.Linux.Memory;
using PciKit.Vm;

namespace PciKit.E2E.Tests;

/// <summary>
/// A Linux guest sees PciKit's ivshmem-doorbell over vfio-user as QEMU's: the configuration bytes QEMU 7.2's device
/// has, the registers' semantics through BAR0, and BAR2 shared with the host (mmap'd by QEMU from the device's memfd).
/// </summary>
public sealed class IvshmemDeviceEndToEndTests
{
    [Fact]
    public void The_guest_sees_qemus_layout_the_register_semantics_and_shares_BAR2_with_the_host()
    {
        var device = new IvshmemLoopback(vectors: 2).JoinDevice(new IvshmemOptions
        {
            Variant = IvshmemVariant.Doorbell,
            Allocator = SharedMemoryAllocator.Instance,
            SharedMemorySize = 1 << 20,
        });
        device.SharedMemory.Write<uint>(0x200, 0x5EED_CAFE); // the host writes first: the guest must read it
        var progress = new StringWriter();
        var result = VmRunner.Run(new VmOptions
        {
            Device = device,
            Transport = VmTransport.VfioUser,
            Command = """
                dev=
                for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor) $(cat $d/device)" = "0x1af4 0x1110" ] && dev=${d##*/}; done
                [ -n "$dev" ] || { echo "NO-IVSHMEM"; exit 3; }
                echo "HEADER=$(hexdump -v -s 0 -n 4 -e '1/4 "%08x"' /sys/bus/pci/devices/$dev/config) $(hexdump -v -s 8 -n 4 -e '1/4 "%08x"' /sys/bus/pci/devices/$dev/config) $(hexdump -v -s 0x2c -n 4 -e '1/4 "%08x"' /sys/bus/pci/devices/$dev/config)"
                echo "PIN-CAPPTR=$(hexdump -v -s 0x3d -n 1 -e '1/1 "%02x"' /sys/bus/pci/devices/$dev/config) $(hexdump -v -s 0x34 -n 1 -e '1/1 "%02x"' /sys/bus/pci/devices/$dev/config)"
                echo "MSIX=$(hexdump -v -s 0x40 -n 12 -e '3/4 "%08x "' /sys/bus/pci/devices/$dev/config)"
                echo "RESOURCES=$(head -n3 /sys/bus/pci/devices/$dev/resource | tr '\n' ' ')"
                pcimem $dev config w16 4 0x2 >/dev/null
                echo "IVPOSITION=$(pcimem $dev 0 r32 8)"
                echo "MASK=$(pcimem $dev 0 w32 0 0xdeadbeef r32 0 | tail -n1)"
                echo "STATUS=$(pcimem $dev 0 w32 4 5 r32 4 r32 4 | tail -n2 | tr '\n' ' ')"
                echo "HOSTWORD=$(pcimem $dev 2 r32 0x200)"
                pcimem $dev 2 w32 0x100 0xfeedc0de >/dev/null
                pcimem $dev 0 w32 12 0x00000001 >/dev/null
                echo "DONE"
                """,
            Timeout = TimeSpan.FromMinutes(3),
            Progress = progress,
        });
        string console = result.Console;
        Assert.True(result.ExitCode == 0, console + progress);
        // Bytes as QEMU 7.2's ivshmem-doorbell,vectors=2 has them: IDs, class/revision, subsystem; no pin; MSI-X at 0x40.
        Assert.Contains("HEADER=11101af4 05000001 11001af4", console);
        Assert.Contains("PIN-CAPPTR=00 40", console);
        Assert.Contains("MSIX=00010011 00000001 00000801", console);
        Assert.Matches(@"RESOURCES=0x[0-9a-f]+ 0x[0-9a-f]+ 0x0*40200 0x[0-9a-f]+ 0x[0-9a-f]+ 0x0*40200 0x[0-9a-f]+ 0x[0-9a-f]+ 0x0*14220c", console);
        Assert.Contains("IVPOSITION=0x00000000", console);
        Assert.Contains("MASK=0xdeadbeef", console);
        Assert.Contains("STATUS=0x00000005 0x00000000", console);          // reading IntrStatus clears it
        Assert.Contains("HOSTWORD=0x5eedcafe", console);
        Assert.Contains("DONE", console);
        Assert.Equal(0xFEED_C0DEu, device.SharedMemory.Read<uint>(0x100)); // the guest's store, seen by the host
        Assert.Equal(1, device.DoorbellsRung);                              // it rang itself (peer 0, vector 1) ...
        Assert.True(SpinWait.SpinUntil(() => device.NotificationsDropped == 1, TimeSpan.FromSeconds(10)),
            "the self-ring was not delivered");                             // ... with MSI-X off, dropped as QEMU drops it
    }
}
