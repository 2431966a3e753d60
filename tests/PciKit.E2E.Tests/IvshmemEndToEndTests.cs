using System.Collections.Concurrent;
using PciKit.Ivshmem;
using PciKit.Vm;

namespace PciKit.E2E.Tests;

/// <summary>
/// <c>ivshmem-doorbell</c> guests on PciKit's <see cref="IvshmemServer"/>, with a host program on the same server through
/// <see cref="IvshmemPeer"/>: IVPosition, BAR2 shared with the host, doorbells both ways, and two guests talking through
/// one server. Each test runs against both implementations of the device — QEMU 7.2's own (Debian's package, on the
/// server through <c>-chardev socket</c>) and PciKit's <see cref="IvshmemServerDevice"/> served over vfio-user to QEMU
/// 10.2 — with the same guest script and the same assertions; the two-guest test also mixes them on one server.
/// No driver binds ivshmem in the guest: the scripts use the sysfs resource files, and enable MSI-X with every vector
/// masked so that a ring sets the vector's pending bit (PBA, BAR1 0x800).
/// </summary>
public sealed class IvshmemEndToEndTests : IDisposable
{
    private static readonly TimeSpan GuestTimeout = TimeSpan.FromMinutes(5);
    private readonly string _dir = Directory.CreateTempSubdirectory("pkivs").FullName;
    private readonly string _shm = "pcikit-e2e-" + Guid.NewGuid().ToString("N")[..10];

    public void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
        File.Delete("/dev/shm/" + _shm);
    }

    /// <summary>Finds the ivshmem function, enables memory decoding, and MSI-X with all vectors masked (function mask).</summary>
    private const string FindDevice = """
        dev=
        for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor) $(cat $d/device)" = "0x1af4 0x1110" ] && dev=${d##*/}; done
        [ -n "$dev" ] || { echo "NO-IVSHMEM"; exit 3; }
        echo "DEV=$dev"
        pcimem $dev config w16 4 0x106 >/dev/null
        cap=$(( $(pcimem $dev config r8 0x34) ))
        while [ $cap -ne 0 ] && [ $(( $(pcimem $dev config r8 $cap) )) -ne 17 ]; do cap=$(( $(pcimem $dev config r8 $((cap + 1))) )); done
        [ $cap -ne 0 ] || { echo "NO-MSIX"; exit 4; }
        pcimem $dev config w16 $((cap + 2)) 0xc000 >/dev/null
        id=$(( $(pcimem $dev 0 r32 8) ))
        echo "IVPOSITION=$id"
        """;

    private IvshmemServer StartServer(int vectors, ulong size) => IvshmemServer.Start(new IvshmemServerOptions
    {
        SocketPath = Path.Combine(_dir, "ivshmem.sock"),
        SharedMemoryName = _shm,
        Size = size,
        Vectors = vectors,
    });

    /// <summary>QEMU's own device joins the server when QEMU starts; PciKit's joins now, from this process.</summary>
    private static VmOptions Guest(IvshmemServer server, string script, string implementation, List<IDisposable> cleanup)
    {
        var options = new VmOptions { Command = script, Accel = VmAccel.Auto, Timeout = GuestTimeout };
        if (implementation == "qemu")
            return options with { ExtraQemuArgs = ["-chardev", $"socket,path={server.SocketPath},id=ivs", "-device", $"ivshmem-doorbell,chardev=ivs,vectors={server.Vectors}"] };
        var joined = IvshmemServerDevice.Connect(server.SocketPath, options: new IvshmemPeerOptions { Vectors = server.Vectors });
        cleanup.Add(joined);
        return options with { Device = joined.Device, Transport = VmTransport.VfioUser };
    }

    [Theory]
    [InlineData("qemu")]
    [InlineData("pcikit")]
    public void A_guest_reads_its_id_shares_bar2_with_a_host_peer_and_doorbells_go_both_ways(string implementation)
    {
        var cleanup = new List<IDisposable>();
        using var server = StartServer(vectors: 2, size: 1 << 20);
        using var host = IvshmemPeer.Connect(server.SocketPath, new IvshmemPeerOptions { Vectors = 2 });
        var seen = new ConcurrentQueue<string>();
        host.Vectors[1].Signaled += (_, count) =>
        {
            // The guest wrote its pattern, then rang our vector 1: check the pattern, acknowledge in memory, ring it back.
            seen.Enqueue($"ring x{count} pattern 0x{host.SharedMemory.Read<uint>(0x10):x8} 0x{host.SharedMemory.Read<uint>(0xFFFFC):x8}");
            host.SharedMemory.Write(0x20, 0x0ACC0ACCu);
            foreach (var p in host.Peers) host.Ring(p.Id, 0);
        };

        string script = FindDevice + """

            echo "BAR2-SIZE=$(pcimem $dev 2 size)"
            echo "HOST-WORD=$(pcimem $dev 2 r32 0)"
            pcimem $dev 2 w32 0x10 0x600dcafe w32 0xffffc 0x5a5a5a5a >/dev/null
            pcimem $dev 0 w32 0xc 0x00000001 >/dev/null
            if pcimem $dev 1 p32 0x800 1 1 120000 >/dev/null; then echo "PBA=$(pcimem $dev 1 r32 0x800)"; else echo "PBA=timeout"; fi
            echo "ACK=$(pcimem $dev 2 r32 0x20)"
            """;
        host.SharedMemory.Write(0, 0x12345678u); // visible to the guest before it boots
        VmResult run;
        try { run = VmRunner.Run(Guest(server, script, implementation, cleanup)); }
        finally { cleanup.ForEach(d => d.Dispose()); }
        string console = run.Console + $"\nhost saw: {string.Join("; ", seen)}";

        Assert.True(run.ExitCode == 0, console);
        Assert.Equal("1", Tag(run, "IVPOSITION"));                 // the host peer is 0, the guest 1
        Assert.Equal((1 << 20).ToString(), Tag(run, "BAR2-SIZE")); // BAR2 is the server's memory
        Assert.Equal("0x12345678", Tag(run, "HOST-WORD"));
        Assert.True(seen.TryPeek(out string? first), console);
        Assert.Equal("ring x1 pattern 0x600dcafe 0x5a5a5a5a", first);  // guest → host: Doorbell (0 << 16 | 1)
        Assert.Equal("0x00000001", Tag(run, "PBA"));                // host → guest: vector 0 pending
        Assert.Equal("0x0acc0acc", Tag(run, "ACK"));
        Assert.Equal(1, host.Vectors[1].TotalSignals);
        Assert.Equal(0, host.Vectors[0].TotalSignals);
        foreach (var joined in cleanup.OfType<IvshmemServerDevice>())
        {
            // PciKit's device: the guest's Doorbell write and the host's ring went through the C# model.
            Assert.Equal(1, joined.Device.DoorbellsRung);
            Assert.Equal(1, joined.Device.Notifications);
        }
    }

    [Theory]
    [InlineData("qemu", "qemu")]
    [InlineData("qemu", "pcikit")]
    public async Task Two_guests_and_a_host_peer_exchange_messages_through_one_server(string first, string second)
    {
        var cleanup = new List<IDisposable>();
        using var server = StartServer(vectors: 2, size: 1 << 16);
        using var host = IvshmemPeer.Connect(server.SocketPath, new IvshmemPeerOptions { Vectors = 2 });
        var ready = new ConcurrentDictionary<int, bool>();
        host.Vectors[0].Signaled += (_, _) =>
        {
            // Each guest rings our vector 0 once its message is in memory; when both are, say go to both.
            if (host.Vectors[0].TotalSignals < 2) return;
            host.SharedMemory.Write(0, 0xC0FFEE00u);
            foreach (var p in host.Peers) host.Ring(p.Id, 0);
        };

        // Guest ids are 1 and 2 (the host is 0): each writes 0xa000000<id> at id * 0x100, tells the host, waits for go,
        // rings the other guest's vector 1, waits for the other's ring, and prints what the other and the host wrote.
        string script = FindDevice + """

            other=$((3 - id))
            pcimem $dev 2 w32 $((id * 0x100)) $((0xa0000000 + id)) >/dev/null
            pcimem $dev 0 w32 0xc 0x00000000 >/dev/null
            pcimem $dev 1 p32 0x800 1 1 180000 >/dev/null && echo "GO=ok" || echo "GO=timeout"
            pcimem $dev 0 w32 0xc $(( (other << 16) | 1 )) >/dev/null
            pcimem $dev 1 p32 0x800 2 2 180000 >/dev/null && echo "PEER-RING=ok" || echo "PEER-RING=timeout"
            echo "OTHER=$(pcimem $dev 2 r32 $((other * 0x100)))"
            echo "HOST=$(pcimem $dev 2 r32 0)"
            """;
        VmResult[] runs;
        try
        {
            // One at a time onto the server, so the ids are known: the first guest is 1, the second 2.
            var a = Guest(server, script, first, cleanup);
            var runA = Task.Run(() => VmRunner.Run(a));
            Assert.True(SpinWait.SpinUntil(() => host.Peers.Count >= 1, TimeSpan.FromMinutes(2)), "the first guest's device never joined the server");
            var runB = Task.Run(() => VmRunner.Run(Guest(server, script, second, cleanup)));
            runs = await Task.WhenAll(runA, runB).WaitAsync(GuestTimeout + TimeSpan.FromMinutes(1));
        }
        finally { cleanup.ForEach(d => d.Dispose()); }
        string both = string.Join("\n----\n", runs.Select(r => r.Console));

        Assert.All(runs, r => Assert.True(r.ExitCode == 0, both));
        Assert.Equal(["1", "2"], runs.Select(r => Tag(r, "IVPOSITION")).Order());
        foreach (var run in runs)
        {
            int id = int.Parse(Tag(run, "IVPOSITION")!);
            Assert.True(Tag(run, "GO") == "ok", both);
            Assert.True(Tag(run, "PEER-RING") == "ok", both);
            Assert.Equal($"0xa000000{3 - id}", Tag(run, "OTHER"));
            Assert.Equal("0xc0ffee00", Tag(run, "HOST"));
        }

        Assert.Equal(2, host.Vectors[0].TotalSignals);
        Assert.Equal(0xA0000001u, host.SharedMemory.Read<uint>(0x100));
        Assert.Equal(0xA0000002u, host.SharedMemory.Read<uint>(0x200));
        Assert.Equal(3, server.Counters.PeersAccepted);
        foreach (var joined in cleanup.OfType<IvshmemServerDevice>())
        {
            Assert.Equal(2, joined.Device.DoorbellsRung);   // to the host, then to the other guest
            Assert.Equal(2, joined.Device.Notifications);   // the host's go, the other guest's ring
        }
    }

    private static string? Tag(VmResult run, string key) => GuestRun.Tag(run.Console, key);
}
