using System.CommandLine;
using PciKit.Device;
using PciKit.Devices.Edu;
using PciKit.Drivers.Edu;
using PciKit.Host;

namespace PciKit.Cli.Commands;

internal static class DemoCommand
{
    public static Command Create(TextWriter stdout)
    {
        var command = new Command("demo", "Run the C# edu driver against the edu device model in-process and show what happens.");
        command.SetAction(_ => Run(stdout));
        return command;
    }

    internal static int Run(TextWriter o)
    {
        var timeout = TimeSpan.FromSeconds(5);
        using var bus = new PciHostBus(PciLog.To(o, PciLogLevel.Warning));
        var device = new EduDevice();
        var address = bus.Attach(device);
        o.WriteLine($"bus: found {string.Join(", ", bus.Enumerate())}");
        using var driver = EduDriver.Attach(bus.GetFunction(address));
        var f = driver.Function;
        var bar = f.GetBarInfo(0);
        o.WriteLine($"{address}: edu {f.ConfigRead16(0):x4}:{f.ConfigRead16(2):x4} rev {f.ConfigRead8(8):x2}, BAR0 {bar.Kind} {bar.Size >> 20} MiB at 0x{bar.Address:x}, MSI capability at 0x{f.FindCapability(Config.PciCapabilityId.Msi):x}");
        var (major, minor) = driver.Version;
        o.WriteLine($"identification: version {major}.{minor}");
        o.WriteLine($"liveness: wrote 0x12345678, read back 0x{driver.CheckLiveness(0x12345678):x8} (the inverse)");
        var (fact, busy) = driver.Factorial(10, timeout);
        o.WriteLine($"factorial: 10! = {fact} (polled the computing bit; {busy} polls saw it set)");

        var intx = driver.EnableInterrupts(PciInterruptKind.Intx);
        driver.RaiseInterrupt(0x42);
        o.WriteLine($"INTx: raised 0x42; Status.InterruptStatus={(f.ConfigRead16(6) & 0x8) != 0}; vector fired {intx.TotalCount} time(s)");
        uint status = driver.WaitForInterruptAsync().WaitAsync(timeout).GetAwaiter().GetResult();
        o.WriteLine($"INTx: handler read status 0x{status:x} and acknowledged it; Status.InterruptStatus={(f.ConfigRead16(6) & 0x8) != 0}");

        var msi = driver.EnableInterrupts(PciInterruptKind.Msi);
        uint viaIrq = driver.FactorialWithInterruptAsync(12).WaitAsync(timeout).GetAwaiter().GetResult();
        o.WriteLine($"MSI: 12! = {viaIrq} signalled by the completion interrupt (MSI vector fired {msi.TotalCount} time(s))");

        byte[] pattern = new byte[4096];
        for (int i = 0; i < pattern.Length; i++) pattern[i] = (byte)(i * 7 + 3);
        byte[] back = driver.DmaRoundTrip(pattern, timeout);
        o.WriteLine($"DMA: 4096 bytes host → device buffer → host, {(back.AsSpan().SequenceEqual(pattern) ? "byte-exact" : "MISMATCH")}");

        f.SetBusMaster(false);
        using (var buffer = f.AllocateDmaBuffer(16, 28))
            driver.Dma(toDevice: true, buffer.DeviceAddress, 0, 16, interrupt: false, timeout);
        o.WriteLine($"DMA with Bus Master off: refused by the device ({device.Counters.DmaRefusedBusMasterCount} refused)");
        bool ok = back.AsSpan().SequenceEqual(pattern) && fact == 3628800 && viaIrq == 479001600;
        o.WriteLine(ok ? "demo: all checks passed" : "demo: a check FAILED");
        return ok ? 0 : 1;
    }
}
