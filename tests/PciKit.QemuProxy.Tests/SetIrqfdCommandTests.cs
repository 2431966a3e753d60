using PciKit.Linux;

namespace PciKit.QemuProxy.Tests;

/// <summary>SET_IRQFD: INTx over KVM's resampling irqfd (QEMU's side is played by the test).</summary>
public sealed class SetIrqfdCommandTests
{
    private const uint Bar0 = 0xfe00_0000;

    private static (EventFd Irq, EventFd Resample) Attach(FakeQemu qemu)
    {
        var irq = new EventFd(0, EventFdOptions.NonBlocking);
        var resample = new EventFd(0, EventFdOptions.NonBlocking);
        qemu.SetIrqfd(irq, resample);
        Assert.True(qemu.Quiet(), "SET_IRQFD must not be answered");
        return (irq, resample);
    }

    [Fact]
    public void RaiseWritesTheIrqfd()
    {
        using var qemu = FakeQemu.WithEdu();
        var (irq, resample) = Attach(qemu);
        using (irq)
        using (resample)
        {
            qemu.ProgramBar0(Bar0);
            Assert.True(Eventually.Quiet(irq));
            qemu.BarWrite(Bar0 + 0x60, 1, 4); // edu: raise interrupt
            Assert.Equal(1ul, Eventually.Fired(irq));
            Assert.Equal(1, qemu.Proxy.Counters.IrqfdSignalCount);
        }
    }

    [Fact]
    public void ResampleWhileAssertedFiresAgainAndNotAfterTheAck()
    {
        using var qemu = FakeQemu.WithEdu();
        var (irq, resample) = Attach(qemu);
        using (irq)
        using (resample)
        {
            qemu.ProgramBar0(Bar0);
            qemu.BarWrite(Bar0 + 0x60, 1, 4);
            Eventually.Fired(irq);

            resample.Signal(); // the guest EOI'd; KVM lowered the GSI — the line is still high
            Assert.Equal(1ul, Eventually.Fired(irq));
            resample.Signal();
            Assert.Equal(1ul, Eventually.Fired(irq));

            qemu.BarWrite(Bar0 + 0x64, 1, 4); // acknowledge: the line drops
            resample.Signal();
            Assert.True(Eventually.Quiet(irq));
            Assert.Equal(3, qemu.Proxy.Counters.IrqfdSignalCount);
        }
    }

    [Fact]
    public void InterruptDisableGatesTheLine()
    {
        using var qemu = FakeQemu.WithEdu();
        var (irq, resample) = Attach(qemu);
        using (irq)
        using (resample)
        {
            qemu.ConfigWrite(0x10, Bar0, 4);
            qemu.ConfigWrite(0x04, 0x0402, 2); // Memory Space + Interrupt Disable
            qemu.BarWrite(Bar0 + 0x60, 1, 4);
            Assert.True(Eventually.Quiet(irq));
            Assert.True((qemu.ConfigRead(0x06, 2) & 0x8) != 0, "Status.Interrupt Status shows the internal level");
            qemu.ConfigWrite(0x04, 0x0002, 2); // enabled again: the pending level goes out
            Assert.Equal(1ul, Eventually.Fired(irq));
        }
    }

    [Fact]
    public void ALineAlreadyHighIsDeliveredWhenTheIrqfdArrives()
    {
        using var qemu = FakeQemu.WithEdu();
        qemu.ProgramBar0(Bar0);
        qemu.BarWrite(Bar0 + 0x60, 1, 4);
        var (irq, resample) = Attach(qemu);
        using (irq)
        using (resample)
            Assert.Equal(1ul, Eventually.Fired(irq));
    }

    [Fact]
    public void ASecondSetIrqfdReplacesTheFirst()
    {
        using var qemu = FakeQemu.WithEdu();
        var (oldIrq, oldResample) = Attach(qemu);
        var (irq, resample) = Attach(qemu);
        using (oldIrq)
        using (oldResample)
        using (irq)
        using (resample)
        {
            qemu.ProgramBar0(Bar0);
            qemu.BarWrite(Bar0 + 0x60, 1, 4);
            Assert.Equal(1ul, Eventually.Fired(irq));
            Assert.True(Eventually.Quiet(oldIrq));
            oldResample.Signal(); // the old resample fd is no longer watched
            Assert.True(Eventually.Quiet(irq));
            resample.Signal();
            Assert.Equal(1ul, Eventually.Fired(irq));
        }
    }

    [Fact]
    public void MsiEnabledByTheGuestIsDroppedCountedAndExplained()
    {
        using var qemu = FakeQemu.WithEdu();
        var (irq, resample) = Attach(qemu);
        using (irq)
        using (resample)
        {
            qemu.ProgramBar0(Bar0);
            int msi = FindCapability(qemu, 0x05);
            Assert.True(msi > 0, "edu has an MSI capability in config space");
            qemu.ConfigWrite((uint)msi + 2, 0x0001, 2); // MSI Enable
            qemu.BarWrite(Bar0 + 0x60, 1, 4);
            Eventually.True(() => qemu.Proxy.Counters.DroppedMessageInterruptCount == 1, "the MSI to be dropped");
            Assert.True(Eventually.Quiet(irq)); // INTx is gated off while MSI is enabled
            Assert.True(qemu.Log.Contains("cannot deliver MSI/MSI-X"));
        }
    }

    private static int FindCapability(FakeQemu qemu, byte id)
    {
        int at = (int)qemu.ConfigRead(0x34, 1);
        for (int hops = 0; at != 0 && hops < 48; hops++)
        {
            if (qemu.ConfigRead((uint)at, 1) == id) return at;
            at = (int)qemu.ConfigRead((uint)at + 1, 1);
        }
        return -1;
    }
}
