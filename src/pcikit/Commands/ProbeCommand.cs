using System.CommandLine;
using System.Globalization;
using PciKit.Config;
using PciKit.Device;
using PciKit.Driver;
using PciKit.VfioUser.Client;

namespace PciKit.Cli.Commands;

/// <summary><c>pcikit probe --vfio-user SOCK</c>: what a vfio-user device offers, and a few accesses to try it out.</summary>
internal static class ProbeCommand
{
    private static readonly string[] RegionNames = ["BAR0", "BAR1", "BAR2", "BAR3", "BAR4", "BAR5", "ROM", "config", "VGA"];
    private static readonly string[] IrqNames = ["INTx", "MSI", "MSI-X", "ERR", "REQ"];

    public static Command Create(TextWriter stdout)
    {
        var socket = new Option<string>("--vfio-user") { Description = "UNIX socket of a vfio-user server.", Required = true };
        var reads = new Option<string[]>("--read") { Description = "Read BAR:OFFSET:SIZE (size 1, 2, 4 or 8), e.g. 0:0x0:4. Repeatable.", AllowMultipleArgumentsPerToken = false };
        var writes = new Option<string[]>("--write") { Description = "Write BAR:OFFSET:SIZE=VALUE, e.g. 2:0x0:1=0xff. Repeatable." };
        var dma = new Option<ulong[]>("--dma") { Description = "Map a DMA buffer of this many bytes (DMA_MAP). Repeatable: one buffer each." };
        var dmaMode = new Option<string>("--dma-mode") { Description = "shm (memfd sent with DMA_MAP, default) or messages (no fd: the server sends DMA_READ/DMA_WRITE).", DefaultValueFactory = _ => "shm" };
        var irq = new Option<string?>("--irq") { Description = "Attach eventfds for intx, msi or msix and count interrupts." };
        var irqCount = new Option<int>("--irq-count") { Description = "Vectors to attach.", DefaultValueFactory = _ => 1 };
        var wait = new Option<double>("--wait") { Description = "Seconds to wait for interrupts (after the writes).", DefaultValueFactory = _ => 0 };
        var reset = new Option<bool>("--reset") { Description = "Send DEVICE_RESET first." };
        var mapReads = new Option<string[]>("--map-read") { Description = "Read BAR:OFFSET:SIZE through an mmap of the region (MapBar), not a message. Repeatable." };
        var enable = new Option<bool>("--enable") { Description = "Turn on Memory/I/O decoding and Bus Master first (as a driver does)." };
        var command = new Command("probe", "Connect to a vfio-user device with PciKit's client: show version, regions, IRQs, config; optionally read/write BARs, map DMA, count interrupts.")
        {
            socket, reads, writes, dma, dmaMode, irq, irqCount, wait, reset, mapReads, enable,
        };
        command.SetAction(parse =>
        {
            var mode = parse.GetValue(dmaMode) switch
            {
                "shm" => DmaMode.SharedMemory,
                "messages" => DmaMode.Messages,
                var m => throw new CliUsageException($"--dma-mode '{m}' is not shm or messages"),
            };
            var client = VfioUserClient.Connect(parse.GetValue(socket)!, new VfioUserClientOptions { DmaMode = mode });
            using var function = new PciFunction(client);
            function.Open();
            var o = stdout;
            o.WriteLine($"vfio-user {client.ProtocolVersion.Major}.{client.ProtocolVersion.Minor} server at {client.Description}: max_msg_fds {client.ServerMaxMessageFds}, max_data_xfer_size {client.ServerMaxDataTransferSize}, reset {(client.SupportsReset ? "yes" : "no")}");
            o.WriteLine($"config: {function.ConfigRead16(PciHeader.VendorId):x4}:{function.ConfigRead16(PciHeader.DeviceId):x4} class {function.ConfigRead32(PciHeader.RevisionId) >> 8:x6} rev {function.ConfigRead8(PciHeader.RevisionId):x2}, {function.ConfigSpaceSize}-byte space, header type {function.ConfigRead8(PciHeader.HeaderType):x2}, pin {function.ConfigRead8(PciHeader.InterruptPin)}");
            foreach (var r in client.Regions)
            {
                if (r.Size == 0) continue;
                string access = (r.Readable ? "r" : "-") + (r.Writable ? "w" : "-") + (r.Mappable ? " mmap" : "");
                string sparse = r.SparseAreas.Count == 0 ? "" : " sparse " + string.Join(" ", r.SparseAreas.Select(a => $"[0x{a.Offset:x},+0x{a.Size:x}]"));
                o.WriteLine($"region {r.Index} {RegionNames[r.Index],-6} {r.Size,10} bytes  {access}{sparse}");
            }
            o.WriteLine("irqs: " + string.Join(", ", IrqNames.Select((n, i) => $"{n} {client.GetIrqCount(i)}")));
            if (parse.GetValue(reset)) { function.Reset(PciResetKind.Conventional); o.WriteLine("reset: done"); }
            if (parse.GetValue(enable))
            {
                function.SetDecoding(true);
                function.SetBusMaster(true);
                o.WriteLine($"command: 0x{function.ConfigRead16(PciHeader.Command):x4}");
            }

            PciInterruptSet? vectors = null;
            if (parse.GetValue(irq) is { } kindText)
            {
                var kind = kindText.ToLowerInvariant() switch
                {
                    "intx" => PciInterruptKind.Intx,
                    "msi" => PciInterruptKind.Msi,
                    "msix" or "msi-x" => PciInterruptKind.MsiX,
                    _ => throw new CliUsageException($"--irq '{kindText}' is not intx, msi or msix"),
                };
                vectors = function.ConfigureInterrupts(kind, parse.GetValue(irqCount));
                o.WriteLine($"irq: {vectors.Count} {kind} vector(s) attached");
            }
            var buffers = new List<DmaBuffer>();
            foreach (ulong bytes in parse.GetValue(dma) ?? [])
            {
                if (bytes == 0) throw new CliUsageException("--dma needs a size of at least 1 byte");
                var buffer = function.AllocateDmaBuffer(bytes, 64);
                buffers.Add(buffer);
                o.WriteLine($"dma: {bytes} bytes mapped at IOVA 0x{buffer.DeviceAddress:x} ({(mode == DmaMode.SharedMemory ? "memfd sent" : "no fd: served by messages")})");
            }
            foreach (var w in parse.GetValue(writes) ?? [])
            {
                var (bar, offset, size, value) = ParseAccess(w, withValue: true);
                switch (size)
                {
                    case 1: function.MemoryWrite8(bar, offset, (byte)value); break;
                    case 2: function.MemoryWrite16(bar, offset, (ushort)value); break;
                    case 4: function.MemoryWrite32(bar, offset, (uint)value); break;
                    default: function.MemoryWrite64(bar, offset, value); break;
                }
                o.WriteLine($"write BAR{bar}+0x{offset:x} ({size}): 0x{value:x}");
            }
            foreach (var r in parse.GetValue(reads) ?? [])
            {
                var (bar, offset, size, _) = ParseAccess(r, withValue: false);
                ulong value = size switch
                {
                    1 => function.MemoryRead8(bar, offset),
                    2 => function.MemoryRead16(bar, offset),
                    4 => function.MemoryRead32(bar, offset),
                    _ => function.MemoryRead64(bar, offset),
                };
                o.WriteLine($"read  BAR{bar}+0x{offset:x} ({size}): 0x{value:x}");
            }
            foreach (var m in parse.GetValue(mapReads) ?? [])
            {
                var (bar, offset, size, _) = ParseAccess(m, withValue: false);
                using var mapping = function.MapBar(bar, offset, (ulong)size);
                ulong value = size switch
                {
                    1 => mapping.Read<byte>(0),
                    2 => mapping.Read<ushort>(0),
                    4 => mapping.Read<uint>(0),
                    _ => mapping.Read<ulong>(0),
                };
                o.WriteLine($"mmap  BAR{bar}+0x{offset:x} ({size}): 0x{value:x}");
            }
            if (vectors is not null && parse.GetValue(wait) is > 0 and var seconds)
            {
                Thread.Sleep(TimeSpan.FromSeconds(seconds));
                o.WriteLine("irq counts: " + string.Join(", ", vectors.Vectors.Select(v => $"{v.Kind}[{v.Index}]={v.TotalCount}")));
            }
            foreach (var buffer in buffers)
            {
                int nonZero = buffer.Span.ToArray().Count(b => b != 0);
                o.WriteLine($"dma: IOVA 0x{buffer.DeviceAddress:x}: {nonZero} non-zero byte(s), first bytes {Convert.ToHexString(buffer.Span[..Math.Min(8, buffer.Span.Length)]).ToLowerInvariant()}");
                buffer.Dispose();
            }
            if (buffers.Count > 0) o.WriteLine($"dma: served {client.DmaReadsServed} DMA_READ and {client.DmaWritesServed} DMA_WRITE message(s) from the server");
            return 0;
        });
        return command;
    }

    private static (int Bar, ulong Offset, int Size, ulong Value) ParseAccess(string text, bool withValue)
    {
        string spec = text;
        ulong value = 0;
        if (withValue)
        {
            int eq = text.IndexOf('=');
            if (eq < 0) throw new CliUsageException($"'{text}' needs '=VALUE' (BAR:OFFSET:SIZE=VALUE)");
            value = Number(text[(eq + 1)..], text);
            spec = text[..eq];
        }
        var parts = spec.Split(':');
        if (parts.Length != 3) throw new CliUsageException($"'{text}' is not BAR:OFFSET:SIZE{(withValue ? "=VALUE" : "")}");
        int bar = (int)Number(parts[0], text);
        int size = (int)Number(parts[2], text);
        if (bar > 6) throw new CliUsageException($"'{text}': BARs are 0–5 and the ROM is 6");
        if (size is not (1 or 2 or 4 or 8)) throw new CliUsageException($"'{text}': size must be 1, 2, 4 or 8");
        return (bar, Number(parts[1], text), size, value);
    }

    private static ulong Number(string s, string whole)
    {
        bool hex = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        if (ulong.TryParse(hex ? s[2..] : s, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out ulong v)) return v;
        throw new CliUsageException($"'{s}' in '{whole}' is not a number (decimal or 0x-hex)");
    }
}
