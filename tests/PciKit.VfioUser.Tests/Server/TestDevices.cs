using PciKit.Config;
using PciKit.Device;
using PciKit.Linux;
using PciKit.Linux.Memory;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>
/// A device whose BARs a client can mmap. BAR0 (16 KiB, 32-bit) is one shareable memfd (<see cref="MappedMemoryBlock.CreateShared"/>),
/// so the whole region is mmap-able. BAR2 (16 KiB, 64-bit) mixes trapped registers and shareable memory:
/// [0, 0x1000) registers, [0x1000, 0x3000) memory that is file offset 0x3000 of a memfd (so the region's file offset is
/// 0x2000), [0x3000, 0x4000) registers — the client learns the memory part from a SPARSE_MMAP capability.
/// </summary>
internal sealed class SharedBarDevice : PciDevice, IDisposable
{
    public const ulong BarSize = 0x4000;
    public const ulong MixedRamOffset = 0x1000, MixedRamSize = 0x2000, MixedRamFileOffset = 0x3000;

    public SharedBarDevice()
        : base(new PciIdentity { VendorId = 0x1b36, DeviceId = 0x00fd, ClassCode = 0x058000 })
    {
        Whole = MappedMemoryBlock.CreateShared("pk-whole-bar", BarSize);
        var fd = SharedMemory.CreateMemFd("pk-mixed-bar", MixedRamFileOffset + MixedRamSize);
        MixedRam = MappedMemoryBlock.Map(fd, MixedRamFileOffset, MixedRamSize, MappingAccess.ReadWrite, keepFd: true);
        DefineBar(0, PciBar.Memory32(BarSize).Add(0, new MemoryRegion("whole", Whole)));
        DefineBar(2, PciBar.Memory64(BarSize)
            .Add(0, new RegisterRegion("regs-low", 0x1000, (o, s) => o == 0 ? Scratch : 0, (o, s, v) => { if (o == 0) Scratch = (uint)v; }, AccessSizes.Dword))
            .Add(MixedRamOffset, new MemoryRegion("mixed-ram", MixedRam))
            .Add(0x3000, new RegisterRegion("regs-high", 0x1000, (o, s) => 0xC0FFEE00u | (uint)o, (o, s, v) => { }, AccessSizes.Dword)));
        Realize();
    }

    public MappedMemoryBlock Whole { get; }
    public MappedMemoryBlock MixedRam { get; }
    public uint Scratch { get; private set; }

    public void Dispose()
    {
        Whole.Dispose();
        MixedRam.Dispose();
    }
}
