using PciKit.Devices.Edu;
using PciKit.Linux;
using PciKit.VfioUser.Server;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>The socket file: its mode, a stale file left by a dead server, a path a live server holds.</summary>
public sealed class SocketFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pkv").FullName;

    private string Path => System.IO.Path.Combine(_dir, "s.sock");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void TheSocketIsCreatedWithMode0600AndRemovedOnDispose()
    {
        using (var server = VfioUserServer.Start(new EduDevice(), Path))
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path));
            using var c = RawClient.Connect(Path);
            c.Negotiate();
        }
        Assert.False(File.Exists(Path));
    }

    [Fact]
    public void AConfiguredModeIsApplied()
    {
        var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;
        using var server = VfioUserServer.Start(new EduDevice(), Path, new() { SocketMode = mode });
        Assert.Equal(mode, File.GetUnixFileMode(Path));
    }

    private void LeaveStaleSocket()
    {
        using (UnixSocket.Listen(Path, new UnixListenOptions { DeleteOnDispose = false })) { }
        Assert.True(File.Exists(Path));
    }

    [Fact]
    public void AStaleSocketFileIsRefusedUnlessReplaceStaleSocket()
    {
        LeaveStaleSocket();
        var e = Assert.Throws<SocketPathInUseException>(() => VfioUserServer.Start(new EduDevice(), Path));
        Assert.True(e.IsStale);
        Assert.Equal(SocketPathState.Stale, e.State);
        Assert.Equal(Path, e.Path);
        Assert.True(File.Exists(Path)); // left alone

        using var server = VfioUserServer.Start(new EduDevice(), Path, new() { ReplaceStaleSocket = true });
        using var c = RawClient.Connect(Path);
        c.Negotiate();
        Assert.Equal(0x11e81234u, c.Read32(7, 0));
    }

    [Fact]
    public void ASecondServerOnALivePathIsRefusedAndTheFirstKeepsServing()
    {
        using var first = VfioUserServer.Start(new EduDevice(), Path);
        var e = Assert.Throws<SocketPathInUseException>(() => VfioUserServer.Start(new EduDevice(), Path, new() { ReplaceStaleSocket = true }));
        Assert.False(e.IsStale);
        Assert.Equal(SocketPathState.ServerRunning, e.State);
        using var c = RawClient.Connect(Path);
        c.Negotiate();
        Assert.Equal(0x11e81234u, c.Read32(7, 0));
    }

    [Fact]
    public void AFileThatIsNotASocketIsNeverReplaced()
    {
        File.WriteAllText(Path, "keep me");
        var e = Assert.Throws<SocketPathInUseException>(() => VfioUserServer.Start(new EduDevice(), Path, new() { ReplaceStaleSocket = true }));
        Assert.False(e.IsStale);
        Assert.Equal(SocketPathState.NotASocket, e.State);
        Assert.Equal("keep me", File.ReadAllText(Path));
    }
}
