namespace PciKit.E2E.Tests;

/// <summary>Shell scripts the tests run in the guest (busybox sh + PciKit's guest helpers). Results are tagged lines.</summary>
internal static class GuestScripts
{
    /// <summary>Finds the edu device, dumps its config and BAR0 resource, checks registers, factorial and DMA both ways (4095 bytes: QEMU 7.2's edu rejects 4096), and optionally INTx through uio_pci_generic.</summary>
    public static string Edu(bool intx) => """
        dev=
        for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor) $(cat $d/device)" = "0x1234 0x11e8" ] && dev=${d##*/}; done
        [ -n "$dev" ] || { echo "NO-EDU"; exit 3; }
        echo "DEV=$dev"
        echo "RESOURCE0=$(head -n1 /sys/bus/pci/devices/$dev/resource)"
        echo "CONFIG-BEGIN"; hexdump -v -e '16/1 "%02x " "\n"' /sys/bus/pci/devices/$dev/config | head -n 16; echo "CONFIG-END"
        pcimem $dev config w16 4 0x106 >/dev/null
        echo "ID=$(pcimem $dev 0 r32 0)"
        echo "LIVE=$(pcimem $dev 0 w32 4 0x12345678 r32 4 | tail -n1)"
        echo "FACT=$(pcimem $dev 0 w32 0x20 0 w32 8 10 p32 0x20 1 0 3000 r32 8 | tail -n1)"
        mkfifo /tmp/i /tmp/o
        pagemap 0x10000000 4096 </tmp/i >/tmp/o &
        exec 3>/tmp/i 4</tmp/o
        read -r line <&4; phys=${line#phys=}; phys=${phys%% *}
        echo "pat 0 4095 7" >&3; read -r r <&4
        pcimem $dev 0 w64 0x80 $phys w64 0x88 0x40000 w64 0x90 4095 w64 0x98 1 p64 0x98 1 0 3000 >/dev/null && echo "DMA-TO-DEVICE=ok"
        echo "fill 0 4095 0" >&3; read -r r <&4
        pcimem $dev 0 w64 0x80 0x40000 w64 0x88 $phys w64 0x90 4095 w64 0x98 3 p64 0x98 1 0 3000 >/dev/null && echo "DMA-FROM-DEVICE=ok"
        echo "check 0 4095 7" >&3; read -r r <&4; echo "DMA-CHECK=$r"
        echo quit >&3
        """ + (intx ? """

        modprobe uio_pci_generic && echo "1234 11e8" > /sys/bus/pci/drivers/uio_pci_generic/new_id
        sleep 1
        uiowait -t 3000 -n 10 -x "pcimem $dev 0 w32 0x60 1" -a "pcimem $dev 0 w32 0x64 1" $dev > /tmp/uio.txt; echo "INTX=$? $(grep -c count= /tmp/uio.txt)"
        pcimem $dev 0 w32 0x60 2 >/dev/null; s1=$(pcimem $dev config r16 6); pcimem $dev 0 w32 0x64 2 >/dev/null; s2=$(pcimem $dev config r16 6)
        echo "STATUS-DURING=$s1"; echo "STATUS-AFTER=$s2"
        """ : "");
}
