using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Threading.Channels;
using PciKit.Device;
using PciKit.Ivshmem;

namespace PciKit.Cli.Commands;

/// <summary>
/// <c>pcikit ivshmem-client</c>: an interactive debugging peer (like QEMU's ivshmem-client). Reads commands from stdin, one per
/// line (<c>help</c> lists them), and prints events (rings, arrivals, departures) as they arrive; works with piped stdin.
/// </summary>
internal static class IvshmemClientCommand
{
    private const string Help = """
        commands:
          peers                  list the other peers and their vectors
          ring PEER VECTOR       interrupt PEER on VECTOR (VECTOR may be 'all')
          dump OFFSET LENGTH     hex dump of the shared memory (numbers: decimal or 0x hex)
          write OFFSET TEXT      write TEXT (UTF-8, rest of the line) into the shared memory
          wait [MS]              wait for the next event on any own vector not yet waited for (default 10000 ms)
          info                   this peer's id, vectors and memory size
          quit                   leave (end of input does the same)
        """;

    public static Command Create(TextReader stdin, TextWriter stdout, TextWriter stderr)
    {
        var socket = new Option<string>("-S", "--socket") { Description = $"The server's UNIX socket (default {IvshmemServerOptions.DefaultSocketPath}).", DefaultValueFactory = _ => IvshmemServerOptions.DefaultSocketPath };
        var vectors = new Option<int?>("-n", "--vectors") { Description = "Vectors this peer expects (default: learn them from the server)." };
        var verbose = new Option<bool>("-v", "--verbose") { Description = "Log protocol problems." };
        var command = new Command("ivshmem-client", "Connect to an ivshmem server as a peer; commands on stdin: peers, ring, dump, write, wait (see 'help').")
        {
            socket, vectors, verbose,
        };
        command.SetAction(parse =>
        {
            var output = TextWriter.Synchronized(stdout);
            using var peer = IvshmemPeer.Connect(parse.GetValue(socket)!, new IvshmemPeerOptions
            {
                Vectors = parse.GetValue(vectors),
                Log = parse.GetValue(verbose) ? PciLog.To(stderr, PciLogLevel.Information) : PciLog.Null,
            });
            var events = Channel.CreateUnbounded<(int Vector, ulong Count)>();
            Say(output, $"connected as peer {peer.Id}: {peer.VectorCount} vector(s), shared memory {IvshmemSize.Format(peer.SharedMemorySize)}");
            Say(output, Peers(peer));
            peer.PeerConnected += (_, e) => Say(output, $"peer {e.PeerId} connected");
            peer.PeerDisconnected += (_, e) => Say(output, $"peer {e.PeerId} left");
            foreach (var v in peer.Vectors)
            {
                v.Signaled += (vector, count) =>
                {
                    Say(output, $"event: vector {vector.Index} count {count}");
                    events.Writer.TryWrite((vector.Index, count));
                };
            }

            bool leaving = false;
            peer.Completion.ContinueWith(t =>
            {
                if (!Volatile.Read(ref leaving))
                {
                    Say(output, t.IsFaulted ? $"server broke the protocol: {t.Exception!.InnerException!.Message}" : "server closed the connection");
                }
            }, TaskScheduler.Default);

            string? line;
            while ((line = stdin.ReadLine()) is not null)
            {
                string[] words = line.Trim().Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
                if (words.Length == 0) continue;
                try
                {
                    if (!Execute(peer, words, events.Reader, output)) break;
                }
                catch (Exception e) when (e is IvshmemException or ArgumentException or FormatException or OverflowException or ObjectDisposedException)
                {
                    Say(output, $"error: {e.Message.Split('\n')[0].Trim()}");
                }
            }

            Volatile.Write(ref leaving, true);
            return 0;
        });
        return command;
    }

    /// <summary>Runs one command; false to quit.</summary>
    private static bool Execute(IvshmemPeer peer, string[] words, ChannelReader<(int Vector, ulong Count)> events, TextWriter output)
    {
        switch (words[0].ToLowerInvariant())
        {
            case "peers":
                Say(output, Peers(peer));
                return true;
            case "info":
                Say(output, $"peer {peer.Id}: {peer.VectorCount} vector(s), shared memory {IvshmemSize.Format(peer.SharedMemorySize)} ({peer.SharedMemorySize} bytes){(peer.IsConnected ? "" : ", disconnected")}");
                return true;
            case "ring":
                Need(words, 3, "ring PEER VECTOR");
                int target = (int)Number(words[1]);
                if (words[2] == "all")
                {
                    int count = target == peer.Id ? peer.VectorCount : peer.Peers.FirstOrDefault(p => p.Id == target).Vectors;
                    if (count == 0) peer.Ring(target, 0); // reports the unknown peer
                    for (int v = 0; v < count; v++) peer.Ring(target, v);
                    Say(output, $"rang peer {target} vectors 0-{count - 1}");
                }
                else
                {
                    int vector = (int)Number(words[2]);
                    peer.Ring(target, vector);
                    Say(output, $"rang peer {target} vector {vector}");
                }

                return true;
            case "dump":
                Need(words, 3, "dump OFFSET LENGTH");
                ulong offset = Number(words[1]);
                int length = checked((int)Number(words[2]));
                Dump(peer.SharedMemory.GetSpan(offset, length), offset, output);
                return true;
            case "write":
                Need(words, 3, "write OFFSET TEXT");
                byte[] bytes = Encoding.UTF8.GetBytes(words[2]);
                ulong at = Number(words[1]);
                peer.SharedMemory.CopyFrom(at, bytes);
                Say(output, $"wrote {bytes.Length} byte(s) at 0x{at:x}");
                return true;
            case "wait":
                int ms = words.Length > 1 ? checked((int)Number(words[1])) : 10_000;
                using (var cts = new CancellationTokenSource(ms))
                {
                    try
                    {
                        var (vector, count) = events.ReadAsync(cts.Token).AsTask().GetAwaiter().GetResult();
                        Say(output, $"wait: vector {vector} count {count}");
                    }
                    catch (OperationCanceledException)
                    {
                        Say(output, $"wait: timed out after {ms} ms");
                    }
                }

                return true;
            case "help":
                Say(output, Help);
                return true;
            case "quit" or "exit":
                return false;
            default:
                Say(output, $"error: unknown command '{words[0]}' (try 'help')");
                return true;
        }
    }

    private static string Peers(IvshmemPeer peer)
    {
        var peers = peer.Peers;
        return peers.Count == 0 ? "peers: none" : "peers: " + string.Join(", ", peers.Select(p => $"{p.Id} ({p.Vectors} vector(s))"));
    }

    private static void Dump(ReadOnlySpan<byte> bytes, ulong offset, TextWriter output)
    {
        var text = new StringBuilder();
        for (int row = 0; row < bytes.Length; row += 16)
        {
            var line = bytes.Slice(row, Math.Min(16, bytes.Length - row));
            text.Append(CultureInfo.InvariantCulture, $"{offset + (ulong)row:x8}: ");
            for (int i = 0; i < 16; i++) text.Append(i < line.Length ? line[i].ToString("x2", CultureInfo.InvariantCulture) + " " : "   ");
            text.Append('|');
            foreach (byte b in line) text.Append(b is >= 0x20 and < 0x7f ? (char)b : '.');
            text.Append('|');
            if (row + 16 < bytes.Length) text.Append('\n');
        }

        Say(output, text.ToString());
    }

    private static void Need(string[] words, int count, string usage)
    {
        if (words.Length < count) throw new ArgumentException($"usage: {usage}");
    }

    private static ulong Number(string text) =>
        text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.Parse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)
            : ulong.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);

    private static void Say(TextWriter output, string line)
    {
        output.WriteLine(line);
        output.Flush();
    }
}
