namespace PciKit.QemuProxy.Tests;

/// <summary>PCI_CFGREAD / PCI_CFGWRITE: QEMU forwards guest config reads verbatim, so the device's bytes are what the guest sees.</summary>
public sealed class ConfigCommandTests
{
    [Fact]
    public void ProbeReadsTheIdentityAsQemuDoes()
    {
        using var qemu = FakeQemu.WithEdu();
        // probe_pci_info: vendor, device, class (0x0A, 2 bytes), subsystem id, each a 2-byte read.
        Assert.Equal(0x1234u, qemu.ConfigRead(0x00, 2));
        Assert.Equal(0x11e8u, qemu.ConfigRead(0x02, 2));
        Assert.Equal(0x00FFu, qemu.ConfigRead(0x0A, 2));
        Assert.Equal(0x1100u, qemu.ConfigRead(0x2E, 2));
        Assert.Equal(0x11e8_1234u, qemu.ConfigRead(0x00, 4));
        Assert.Equal(0x10u, qemu.ConfigRead(0x08, 1));
        Assert.Equal(1u, qemu.ConfigRead(0x3D, 1)); // INTA
    }

    [Fact]
    public void BarSizingProbeOfEveryRegisterQemuProbes()
    {
        using var qemu = FakeQemu.WithEdu();
        Assert.Equal(0xFFF0_0000u, qemu.ProbeBar(0)); // 1 MiB, 32-bit, non-prefetchable memory
        for (int i = 1; i <= 6; i++) Assert.Equal(0u, qemu.ProbeBar(i)); // BARs 1–5 and 0x28 (QEMU probes 7 registers)
        Assert.Equal(0u, qemu.ConfigRead(0x10, 4)); // restored
    }

    [Fact]
    public void IoBarSizingProbe()
    {
        using var qemu = new FakeQemu(new BarsDevice((0, Config.PciBar.Memory32(4096)), (1, Config.PciBar.Io(16))));
        Assert.Equal(0xFFFF_F000u, qemu.ProbeBar(0));
        Assert.Equal(0xFFFF_FFF1u, qemu.ProbeBar(1)); // bit 0: I/O space
    }

    [Fact]
    public void WritesGoThroughTheMasksAndAreAnsweredWithZero()
    {
        using var qemu = FakeQemu.WithEdu();
        Assert.Equal(0ul, qemu.ConfigWrite(0x04, 0xFFFF, 2));
        uint command = qemu.ConfigRead(0x04, 2);
        Assert.Equal(0x0006u | 0x0100u | 0x0040u | 0x0400u, command); // Memory, Bus Master, SERR#, Parity, Interrupt Disable
        Assert.Equal(0ul, qemu.ConfigWrite(0x3C, 0x0B, 1));
        Assert.Equal(0x0Bu, qemu.ConfigRead(0x3C, 1));
        Assert.Equal(0ul, qemu.ConfigWrite(0x00, 0xFFFF_FFFF, 4)); // read-only: accepted, ignored
        Assert.Equal(0x11e8_1234u, qemu.ConfigRead(0x00, 4));
    }

    [Theory]
    [InlineData(0x100u, 4)]
    [InlineData(0xFEu, 4)]
    [InlineData(0x10u, 3)]
    [InlineData(0x10u, 0)]
    [InlineData(0x10u, -4)]
    [InlineData(0xFFFF_FFFFu, 1)]
    public void InvalidAccessesReadAllOnesAndWritesAreRefused(uint address, int length)
    {
        using var qemu = FakeQemu.WithEdu();
        uint expected = length is 1 ? 0xFFu : length is 2 ? 0xFFFFu : length is 3 ? 0xFF_FFFFu : 0xFFFF_FFFFu;
        Assert.Equal(expected, qemu.ConfigRead(address, length));
        Assert.Equal(ulong.MaxValue, qemu.ConfigWrite(address, 0, length));
        Assert.Equal(2, qemu.Device.Counters.InvalidConfigAccessCount);
        Assert.Equal(0x1234u, qemu.ConfigRead(0, 2)); // still serving
        Assert.Equal(0, qemu.Proxy.Counters.MalformedCount); // a guest fault, not a protocol error
    }
}
