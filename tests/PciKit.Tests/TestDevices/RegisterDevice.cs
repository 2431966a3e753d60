using PciKit.Config;
using PciKit.Device;
using PciKit.Memory;

namespace PciKit.Tests.TestDevices;

/// <summary>
/// A device with registers and RAM. BAR0 (4 KiB, 32-bit memory): dword registers at 0x100 (+0x40) that answer
/// <c>0xA000_0000 | offset</c> and record every call, and RAM at 0x800 (+0x800). BAR2 (32 bytes, I/O): byte/word/dword
/// registers that record every call. INTA#.
/// </summary>
public sealed class RegisterDevice : PciDevice
{
    public const ulong RegsOffset = 0x100, RegsSize = 0x40, RamOffset = 0x800, RamSize = 0x800;

    public RegisterDevice() : base(TestIds.WithPin with { ClassCode = 0xFF0000 })
    {
        Ram = new NativeMemoryBlock(RamSize);
        DefineBar(0, PciBar.Memory32(0x1000))
            .Add(RegsOffset, new RegisterRegion("regs", RegsSize, (o, s) => Record("read", o, s, 0, 0xA000_0000 | o), (o, s, v) => Record("write", o, s, v, 0)))
            .Add(RamOffset, new MemoryRegion("ram", Ram));
        DefineBar(2, PciBar.Io(32))
            .Add(0, new RegisterRegion("io", 32, (o, s) => Record("ioread", o, s, 0, 0x5A), (o, s, v) => Record("iowrite", o, s, v, 0),
                AccessSizes.Byte | AccessSizes.Word | AccessSizes.Dword));
        Realize();
    }

    public NativeMemoryBlock Ram { get; }

    /// <summary>Every handler call: operation, region-relative offset, size, value written.</summary>
    public List<(string Op, ulong Offset, int Size, ulong Value)> Calls { get; } = [];

    public List<PciResetKind> ResetKinds { get; } = [];

    private ulong Record(string op, ulong offset, int size, ulong value, ulong result)
    {
        Calls.Add((op, offset, size, value));
        return result;
    }

    protected override void OnReset(PciResetKind kind) => ResetKinds.Add(kind);

    public void SetIntx(bool level) => this.Locked(() => Interrupts.SetIntx(level));
    public DmaStatus DmaRead(ulong address, Span<byte> destination)
    {
        using var _ = SyncRoot.EnterScope();
        return Dma.Read(address, destination);
    }

    public DmaStatus DmaWrite(ulong address, ReadOnlySpan<byte> source)
    {
        using var _ = SyncRoot.EnterScope();
        return Dma.Write(address, source);
    }
}
