using PciKit.Config;
using PciKit.Devices.Edu;
using PciKit.Devices.Sample;
using PciKit.Linux;

namespace PciKit.QemuProxy.Tests;

/// <summary>QemuProxyDevice.Start: what QEMU 7.2's proxy can present, said where the user meets it.</summary>
public sealed class StartTests
{
    public static TheoryData<string, PciBar> Unsupported() => new()
    {
        { "64-bit", PciBar.Memory64(4096) },
        { "64-bit prefetchable", PciBar.Memory64(4096, prefetchable: true) },
        { "32-bit prefetchable", PciBar.Memory32(4096, prefetchable: true) },
    };

    [Theory]
    [MemberData(nameof(Unsupported))]
    public void RefusesBarsQemuCannotPresent(string what, PciBar bar)
    {
        var device = new BarsDevice((2, bar));
        var (a, b) = UnixSocket.CreatePair();
        using (a)
        using (b)
        {
            var e = Assert.Throws<PciDefinitionException>(() => QemuProxyDevice.Start(device, b));
            Assert.Contains(what, e.Message, StringComparison.Ordinal);
            Assert.Contains("QEMU 7.2's proxy supports only 32-bit non-prefetchable memory and I/O BARs", e.Message, StringComparison.Ordinal);
            Assert.Contains("vfio-user", e.Message, StringComparison.Ordinal);
            Assert.Contains("BAR 2", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void RefusesAnExpansionRom()
    {
        var device = new BarsDevice((0, PciBar.Memory32(4096)), (6, PciBar.Rom(2048, [0x55, 0xAA])));
        var e = Assert.Throws<PciDefinitionException>(() => QemuProxyDevice.EnsureSupported(device));
        Assert.Contains("expansion ROM", e.Message, StringComparison.Ordinal);
        Assert.Contains("vfio-user", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RefusesTheSampleDevice() =>
        Assert.Throws<PciDefinitionException>(() => QemuProxyDevice.EnsureSupported(new SampleDevice()));

    [Fact]
    public void RefusesAnUnrealizedDevice()
    {
        var e = Assert.Throws<PciDefinitionException>(() => QemuProxyDevice.EnsureSupported(new BarsDevice(realize: false)));
        Assert.Contains("Realize()", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AcceptsMemory32AndIoBars()
    {
        QemuProxyDevice.EnsureSupported(new EduDevice());
        QemuProxyDevice.EnsureSupported(new BarsDevice((0, PciBar.Memory32(4096)), (1, PciBar.Io(16))));
    }

    [Fact]
    public void DisposeEndsTheLinkAndDisconnectsTheDevice()
    {
        var qemu = FakeQemu.WithEdu();
        Assert.True(qemu.Proxy.IsRunning);
        Assert.Equal(0x1234u, qemu.ConfigRead(0, 2));
        qemu.Proxy.Dispose();
        Assert.True(Eventually.Ended(qemu.Proxy));
        Assert.False(qemu.Proxy.IsRunning);
        Assert.True(qemu.SeesHangUp());
        qemu.Proxy.Dispose(); // idempotent
        qemu.Dispose();
    }

    [Fact]
    public void QemuHangingUpEndsTheLink()
    {
        var qemu = FakeQemu.WithEdu();
        Assert.Equal(0x11e8u, qemu.ConfigRead(2, 2));
        qemu.Socket.Dispose();
        Assert.True(Eventually.Ended(qemu.Proxy));
        Assert.True(qemu.Log.Contains("link to QEMU closed"));
        qemu.Dispose();
    }

    [Fact]
    public void ServedDeviceIsConnectedAndReleasedAfterwards()
    {
        using var qemu = FakeQemu.WithEdu();
        // Nothing mapped yet: a device DMA fails as unmapped rather than as "no host".
        qemu.ProgramBar0(0xfe00_0000);
        qemu.BarWrite(0xfe00_0080, 0x1000, 8);
        qemu.BarWrite(0xfe00_0088, EduDevice.DmaBufferStart, 8);
        qemu.BarWrite(0xfe00_0090, 16, 8);
        qemu.BarWrite(0xfe00_0098, EduDevice.DmaStart, 8);
        Eventually.True(() => (qemu.BarRead(0xfe00_0098, 8) & 1) == 0, "the DMA to finish");
        Assert.Equal(1, qemu.Device.Counters.DmaFaultCount);
        Assert.True((qemu.ConfigRead(0x06, 2) & 0x2000) != 0, "Received Master Abort");
    }
}
