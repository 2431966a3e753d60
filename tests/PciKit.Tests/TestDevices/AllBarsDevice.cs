using PciKit.Config;
using PciKit.Device;
using PciKit.Memory;

namespace PciKit.Tests.TestDevices;

/// <summary>
/// One BAR of every kind. BAR0: 4 KiB 32-bit registers (dword); BAR1: 16-byte I/O; BAR2: 64 KiB 64-bit prefetchable RAM;
/// BAR4: 8 KiB 32-bit prefetchable RAM; BAR5: none; ROM: 4 KiB holding <see cref="RomImage"/>.
/// </summary>
public sealed class AllBarsDevice : PciDevice
{
    public static readonly byte[] RomImage = [0x55, 0xAA, 0x08, 0xCB];
    private uint _reg;

    public AllBarsDevice() : base(TestIds.Plain with { DeviceId = 0x0ba5 })
    {
        Ram64 = new NativeMemoryBlock(0x1_0000);
        Ram32 = new NativeMemoryBlock(0x2000);
        DefineBar(0, PciBar.Memory32(0x1000)).Add(0, new RegisterRegion("reg", 4, (_, _) => _reg, (_, _, v) => _reg = (uint)v));
        DefineBar(1, PciBar.Io(16)).Add(0, new RegisterRegion("io", 16, (_, _) => 0, (_, _, _) => { }, AccessSizes.Any));
        DefineBar(2, PciBar.Memory64(0x1_0000, prefetchable: true)).Add(0, new MemoryRegion("ram64", Ram64));
        DefineBar(4, PciBar.Memory32(0x2000, prefetchable: true)).Add(0, new MemoryRegion("ram32", Ram32));
        DefineBar(RomIndex, PciBar.Rom(0x1000, RomImage));
        Realize();
    }

    public NativeMemoryBlock Ram64 { get; }
    public NativeMemoryBlock Ram32 { get; }
    public uint Register => _reg;
}
