namespace PciKit.Linux.Tests;

public sealed class UnixListenTests
{
    [Fact]
    public void ListenAppliesMode0600ByDefault()
    {
        using var dir = new TempDir();
        string path = dir.File("s");
        using (var listener = UnixSocket.Listen(path))
        {
            Assert.Equal(path, listener.Path);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.True((File.GetAttributes(path) & FileAttributes.Directory) == 0);
            Assert.True(listener.Handle.IsCloseOnExec);
        }

        Assert.False(File.Exists(path)); // removed on dispose
    }

    [Fact]
    public void ListenAppliesRequestedMode()
    {
        using var dir = new TempDir();
        string path = dir.File("s");
        var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;
        using var listener = UnixSocket.Listen(path, new UnixListenOptions { Mode = mode });
        Assert.Equal(mode, File.GetUnixFileMode(path));
    }

    [Fact]
    public void AcceptConnectExchange()
    {
        using var dir = new TempDir();
        string path = dir.File("s");
        using var listener = UnixSocket.Listen(path);
        using var client = UnixSocket.Connect(path);
        using var server = listener.Accept();
        using var e = new EventFd();
        client.SendAll("hi"u8, [e.Handle]);
        using var fds = new ReceivedFds(1);
        var buffer = new byte[2];
        Assert.Equal(2, server.Receive(buffer, fds));
        Assert.Equal(1, fds.Count);
        Assert.Equal(Environment.ProcessId, server.GetPeerCredentials().ProcessId);
    }

    [Fact]
    public void NonBlockingListenerTryAcceptReturnsNull()
    {
        using var dir = new TempDir();
        using var listener = UnixSocket.Listen(dir.File("s"), new UnixListenOptions { NonBlocking = true });
        Assert.Null(listener.TryAccept());
        Assert.True(Assert.Throws<LinuxException>(() => listener.Accept()).IsWouldBlock);
        using var client = UnixSocket.Connect(dir.File("s"));
        using UnixSocket? accepted = listener.TryAccept();
        Assert.NotNull(accepted);
    }

    [Fact]
    public void DisposeWakesBlockedAccept()
    {
        using var dir = new TempDir();
        var listener = UnixSocket.Listen(dir.File("s"));
        var accept = Task.Run(listener.Accept);
        Thread.Sleep(50);
        listener.Dispose();
        Assert.True(((IAsyncResult)accept).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(5)), "Accept did not wake");
        Assert.IsAssignableFrom<Exception>(accept.Exception?.InnerException);
    }

    [Fact]
    public void ConnectToMissingPathIsEnoent()
    {
        using var dir = new TempDir();
        var ex = Assert.Throws<LinuxException>(() => UnixSocket.Connect(dir.File("none")));
        Assert.Equal("ENOENT", ex.ErrorName);
        Assert.Contains(dir.File("none"), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ConnectToStaleSocketIsEconnrefused()
    {
        using var dir = new TempDir();
        string path = dir.File("s");
        CreateStaleSocket(path);
        var ex = Assert.Throws<LinuxException>(() => UnixSocket.Connect(path));
        Assert.Equal("ECONNREFUSED", ex.ErrorName);
    }

    [Fact]
    public void StaleSocketFileIsDetected()
    {
        using var dir = new TempDir();
        string path = dir.File("s");
        CreateStaleSocket(path);
        var ex = Assert.Throws<SocketPathInUseException>(() => UnixSocket.Listen(path));
        Assert.True(ex.IsStale);
        Assert.Equal(SocketPathState.Stale, ex.State);
        Assert.Equal("EADDRINUSE", ex.ErrorName);
        Assert.Contains("stale socket file", ex.Message, StringComparison.Ordinal);
        Assert.Contains("--force", ex.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(path)); // left alone
    }

    [Fact]
    public void StaleSocketFileIsReplacedWhenAsked()
    {
        using var dir = new TempDir();
        string path = dir.File("s");
        CreateStaleSocket(path);
        using var listener = UnixSocket.Listen(path, new UnixListenOptions { ReplaceStaleSocket = true });
        using var client = UnixSocket.Connect(path);
        using var server = listener.Accept();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public void RunningServerIsNeverReplaced()
    {
        using var dir = new TempDir();
        string path = dir.File("s");
        using var running = UnixSocket.Listen(path);
        var ex = Assert.Throws<SocketPathInUseException>(() => UnixSocket.Listen(path, new UnixListenOptions { ReplaceStaleSocket = true }));
        Assert.False(ex.IsStale);
        Assert.Equal(SocketPathState.ServerRunning, ex.State);
        Assert.Contains("running server", ex.Message, StringComparison.Ordinal);
        using var client = UnixSocket.Connect(path); // still serving
    }

    [Fact]
    public void RegularFileIsNeverReplaced()
    {
        using var dir = new TempDir();
        string path = dir.File("f");
        File.WriteAllText(path, "data");
        var ex = Assert.Throws<SocketPathInUseException>(() => UnixSocket.Listen(path, new UnixListenOptions { ReplaceStaleSocket = true }));
        Assert.Equal(SocketPathState.NotASocket, ex.State);
        Assert.Equal("data", File.ReadAllText(path));
    }

    [Fact]
    public void DisposeDoesNotDeleteASuccessorsSocket()
    {
        using var dir = new TempDir();
        string path = dir.File("s");
        var first = UnixSocket.Listen(path);
        File.Delete(path);
        using var second = UnixSocket.Listen(path);
        first.Dispose();
        Assert.True(File.Exists(path));
        using var client = UnixSocket.Connect(path);
    }

    [Fact]
    public void OverlongPathIsRejected()
    {
        Assert.Throws<ArgumentException>(() => UnixSocket.Listen("/tmp/" + new string('x', 200)));
    }

    /// <summary>Leaves a socket file nobody listens on, like a crashed server.</summary>
    private static void CreateStaleSocket(string path)
    {
        using var listener = UnixSocket.Listen(path, new UnixListenOptions { DeleteOnDispose = false });
    }
}
