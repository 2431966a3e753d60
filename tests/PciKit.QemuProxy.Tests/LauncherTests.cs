using PciKit.Devices.Edu;
using PciKit.Linux;

namespace PciKit.QemuProxy.Tests;

public sealed class LauncherTests
{
    [Fact]
    public void BuildsTheDeviceArgumentForAnInheritableFd()
    {
        using var link = QemuProxyLauncher.Create("pcikit0");
        Assert.True(link.QemuFd > 2);
        Assert.Equal($"x-pci-proxy-dev,id=pcikit0,fd={link.QemuFd}", link.DeviceArgument);
        Assert.Equal(["-device", link.DeviceArgument], link.QemuArguments);
        Assert.True(link.DeviceSocket.Handle.IsCloseOnExec); // only the QEMU end is inherited
        Assert.StartsWith("socket:[", new FileInfo($"/proc/self/fd/{link.QemuFd}").LinkTarget, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0abc")]
    [InlineData("a,b")]
    [InlineData("a=b")]
    [InlineData("a b")]
    public void RefusesIdsQemuWouldMisparse(string id) =>
        Assert.ThrowsAny<ArgumentException>(() => QemuProxyLauncher.Create(id));

    [Fact]
    public void TheChildInheritsTheQemuEndAndItIsClosedHereAfterwards()
    {
        using var link = QemuProxyLauncher.Create("p0");
        int fd = link.QemuFd;
        // A stand-in for QEMU: writes through the inherited descriptor, as QEMU would talk on fd=N.
        using var child = link.StartQemu("/bin/bash", ["-c", $"printf hi >&{fd}"]);
        Assert.True(child.WaitForExit(10_000));
        Assert.Equal(0, child.ExitCode);
        var socket = link.DeviceSocket;
        var buffer = new byte[8];
        using var fds = new ReceivedFds(1);
        Assert.True(socket.WaitReadable(FakeQemu.HangGuard));
        Assert.Equal(2, socket.Receive(buffer, fds));
        Assert.Equal("hi"u8.ToArray(), buffer[..2]);
        // The child exited and our copy of its end is closed: end of stream.
        Assert.True(socket.WaitReadable(FakeQemu.HangGuard));
        Assert.Equal(0, socket.Receive(buffer, fds));
    }

    [Fact]
    public void ServeHandsTheDeviceEndToTheProxy()
    {
        using var link = QemuProxyLauncher.Create("p1");
        using var proxy = link.Serve(new EduDevice());
        Assert.Throws<InvalidOperationException>(() => link.DeviceSocket);
        Assert.True(proxy.IsRunning);
        link.CloseQemuEnd();
        Assert.True(Eventually.Ended(proxy)); // nobody holds the QEMU end: the link ends
    }
}
