namespace PciKit.Ivshmem.Tests;

/// <summary><c>pcikit ivshmem-server</c> and <c>pcikit ivshmem-client</c> as separate processes.</summary>
[Collection(SerialCollection.Name)]
public sealed class CliProcessTests : IDisposable
{
    private readonly Scratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Theory]
    [InlineData(PcikitProcess.SIGTERM)]
    [InlineData(PcikitProcess.SIGINT)]
    public async Task A_foreground_server_stops_on_a_signal_and_removes_socket_pid_file_and_shm(int signal)
    {
        string pid = Path.Combine(_scratch.Dir, "server.pid");
        using var server = PcikitProcess.Start("ivshmem-server", "-F", "-S", _scratch.Socket, "-M", _scratch.ShmName, "-l", "1M", "-n", "2", "-p", pid);
        server.WaitForLine("ivshmem-server: listening on " + _scratch.Socket);
        Assert.Equal(server.Process.Id.ToString(), File.ReadAllText(pid).Trim());
        Assert.True(File.Exists(_scratch.ShmPath));
        using var peer = IvshmemPeer.Connect(_scratch.Socket);
        Assert.Equal(2, peer.VectorCount);
        Assert.Equal(1UL << 20, peer.SharedMemorySize);

        server.Signal(signal); // with a peer still connected
        Assert.Equal(0, server.WaitForExit());
        await peer.Completion.WaitAsync(Wait.Timeout);
        Assert.False(File.Exists(_scratch.Socket));
        Assert.False(File.Exists(pid));
        Assert.False(File.Exists(_scratch.ShmPath));
        Assert.Contains("ivshmem-server: stopped; 1 peer(s) served", server.Stdout);
    }

    [Fact]
    public void Without_F_the_server_daemonizes_writes_its_pid_and_cleans_up_on_sigterm()
    {
        string pid = Path.Combine(_scratch.Dir, "daemon.pid");
        var (code, output, errors) = PcikitProcess.Run("ivshmem-server", "-S", _scratch.Socket, "-M", _scratch.ShmName, "-l", "64K", "-p", pid);
        Assert.True(code == 0, errors);
        int daemon = int.Parse(File.ReadAllText(pid).Trim());
        try
        {
            Assert.Contains($"running in the background as pid {daemon}", output);
            Assert.True(Directory.Exists($"/proc/{daemon}"), "the daemon runs after the command returned");
            string stat = File.ReadAllText($"/proc/{daemon}/stat");
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            Assert.Equal(daemon.ToString(), fields[3]); // session id = its own pid: detached from the caller's session
            using (var peer = IvshmemPeer.Connect(_scratch.Socket))
            {
                Assert.Equal(64UL << 10, peer.SharedMemorySize);
            }

            Assert.Equal(0, PcikitProcess.Kill(daemon, PcikitProcess.SIGTERM));
            Wait.Until(() => !File.Exists(pid) && !File.Exists(_scratch.Socket) && !File.Exists(_scratch.ShmPath), "the daemon removed its files");
            Wait.Until(() => !Directory.Exists($"/proc/{daemon}") || File.ReadAllText($"/proc/{daemon}/stat").Contains(") Z "), "the daemon exited");
        }
        finally
        {
            _ = PcikitProcess.Kill(daemon, 9);
        }
    }

    [Fact]
    public void A_daemon_that_cannot_start_reports_why_and_the_command_fails()
    {
        using var running = IvshmemServer.Start(_scratch.Options());
        var (code, _, errors) = PcikitProcess.Run("ivshmem-server", "-S", _scratch.Socket, "-M", _scratch.ShmName + "-x", "-p", Path.Combine(_scratch.Dir, "p"));
        Assert.Equal(2, code);
        Assert.Contains("is in use by a running server", errors);
        Assert.False(File.Exists(Path.Combine(_scratch.Dir, "p")));
    }

    [Theory]
    [InlineData("-n 65", "too many requested vectors (max is 64)")]
    [InlineData("-n -1", "the number of vectors is 0 … 64")]
    [InlineData("-l 4X", "K, M, G or T suffix")]
    [InlineData("-l 0", "must not be zero")]
    [InlineData("-l 2T", "larger than the largest")]
    [InlineData("-M a -m /tmp", "either -M NAME")]
    [InlineData("-v", "cannot use verbose in daemon mode")]
    public void Bad_options_are_refused_with_exit_code_2(string args, string message)
    {
        var (code, _, errors) = PcikitProcess.Run(["ivshmem-server", "-S", _scratch.Socket, .. args.Split(' ')]);
        Assert.Equal(2, code);
        Assert.Contains(message, errors);
        Assert.False(File.Exists(_scratch.Socket));
    }

    [Fact]
    public void The_client_process_rings_and_is_rung_and_shares_memory_with_an_in_process_peer()
    {
        using var server = _scratch.StartServer(vectors: 2, size: 1 << 16);
        using var host = IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 2 });
        using var client = PcikitProcess.Start("ivshmem-client", "-S", _scratch.Socket);
        Assert.Contains("connected as peer 1: 2 vector(s), shared memory 64 KiB", client.WaitForLine("connected as peer"));
        Assert.Equal("peers: 0 (2 vector(s))", client.WaitForLine("peers:"));
        Wait.Until(() => host.Peers.Count == 1, "the host peer learns of the client");

        client.Send("ring 0 1");
        client.WaitForLine("rang peer 0 vector 1");
        Assert.Equal(1UL, host.Vectors[1].Wait(Wait.Timeout));

        host.Ring(1, 0);
        Assert.Equal("event: vector 0 count 1", client.WaitForLine("event:"));
        client.Send("wait 20000");
        Assert.Equal("wait: vector 0 count 1", client.WaitForLine("wait:"));

        client.Send("write 0x100 hello from a process");
        client.WaitForLine("wrote 20 byte(s) at 0x100");
        Assert.Equal("hello from a process"u8.ToArray(), host.SharedMemory.GetSpan(0x100, 20).ToArray());
        host.SharedMemory.CopyFrom(0x200, "ABCD"u8);
        client.Send("dump 0x200 4");
        Assert.Equal("00000200: 41 42 43 44 " + new string(' ', 12 * 3) + "|ABCD|", client.WaitForLine("00000200:"));

        client.Send("ring 9 0");
        Assert.Contains("error: Peer 9 is not connected", client.WaitForLine("error:"));
        client.Send("wait 100");
        client.WaitForLine("wait: timed out after 100 ms");

        using var third = IvshmemPeer.Connect(_scratch.Socket);
        client.WaitForLine("peer 2 connected");
        third.Dispose();
        client.WaitForLine("peer 2 left");

        client.Process.StandardInput.Close(); // end of input: the client leaves
        Assert.Equal(0, client.WaitForExit());
        Wait.Until(() => host.Peers.Count == 0, "the host peer learns that the client left");
    }

    [Fact]
    public void Serve_ivshmem_doorbell_joins_the_server_and_a_vfio_user_driver_reaches_the_host_peer_through_it()
    {
        using var server = _scratch.StartServer(vectors: 2, size: 1 << 16);
        using var host = IvshmemPeer.Connect(_scratch.Socket, new IvshmemPeerOptions { Vectors = 2 });
        string vfioSocket = Path.Combine(_scratch.Dir, "vfio.sock");
        using var serve = PcikitProcess.Start("serve", "ivshmem-doorbell", "--ivshmem-server", _scratch.Socket, "--vfio-user", vfioSocket);
        serve.WaitForLine("serving ivshmem-doorbell");
        Wait.Until(() => host.Peers.Count == 1, "the host peer learns of the served device");

        using var function = PciKit.VfioUser.Client.VfioUserClient.Open(vfioSocket);
        function.Open();
        function.SetDecoding(true);
        Assert.Equal(1u, function.MemoryRead32(0, 0x08)); // IVPosition: the server's id for the device
        function.MemoryWrite32(0, 0x0C, 0 << 16 | 1);       // Doorbell: ring the host (peer 0), vector 1
        Assert.Equal(1UL, host.Vectors[1].Wait(Wait.Timeout));
        using var bar2 = function.MapBar(2);                 // the server's memory, mapped over vfio-user
        host.SharedMemory.CopyFrom(0x40, "shared"u8);
        Assert.Equal("shared"u8.ToArray(), bar2.GetSpan(0x40, 6).ToArray());
        function.Close();

        serve.Signal(PcikitProcess.SIGTERM);
        Assert.Equal(0, serve.WaitForExit());
        Wait.Until(() => host.Peers.Count == 0, "the host peer learns that the device left with the serving process");
    }

    [Fact]
    public void Serve_refuses_ivshmem_server_for_another_model_and_says_why_when_no_server_listens()
    {
        var (code, _, err) = PcikitProcess.Run("serve", "edu", "--ivshmem-server", _scratch.Socket, "--vfio-user", Path.Combine(_scratch.Dir, "v.sock"));
        Assert.Equal(2, code);
        Assert.Contains("--ivshmem-server is for --device ivshmem-doorbell", err);
        (code, _, err) = PcikitProcess.Run("serve", "ivshmem-doorbell", "--ivshmem-server", _scratch.Socket, "--vfio-user", Path.Combine(_scratch.Dir, "v.sock"));
        Assert.Equal(2, code);
        Assert.Contains("cannot join the ivshmem server", err);
    }
}
