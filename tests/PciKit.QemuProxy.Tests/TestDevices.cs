using PciKit.Config;
using PciKit.Device;

namespace PciKit.QemuProxy.Tests;

/// <summary>A device with the BARs a test gives (each BAR gets one register region echoing a stored value).</summary>
internal sealed class BarsDevice : PciDevice
{
    private ulong _register;

    public BarsDevice(params (int Index, PciBar Bar)[] bars)
        : base(new PciIdentity { VendorId = 0x1234, DeviceId = 0x0001, InterruptPin = PciInterruptPin.IntA })
    {
        foreach (var (index, bar) in bars)
        {
            if (bar.Kind != PciBarKind.Rom)
                bar.Add(0, new RegisterRegion($"regs{index}", 4, (o, s) => _register >> (int)(8 * o), (o, s, v) => _register = v << (int)(8 * o),
                    AccessSizes.Byte | AccessSizes.Word | AccessSizes.Dword, allowUnaligned: true));
            DefineBar(index, bar);
        }
        Realize();
    }

    /// <summary>Unrealized: for the refusal test.</summary>
    public BarsDevice(bool realize)
        : base(new PciIdentity { VendorId = 0x1234, DeviceId = 0x0002 })
    {
        DefineBar(0, PciBar.Memory32(4096));
        if (realize) Realize();
    }
}
