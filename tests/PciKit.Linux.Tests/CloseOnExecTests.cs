using System.Diagnostics;

namespace PciKit.Linux.Tests;

public sealed class CloseOnExecTests
{
    [Fact]
    public void SetCloseOnExecTogglesTheFlag()
    {
        var (a, b) = UnixSocket.CreatePair();
        using (a)
        using (b)
        {
            Assert.True(a.Handle.IsCloseOnExec);
            a.Handle.SetCloseOnExec(false);
            Assert.False(a.Handle.IsCloseOnExec);
            Assert.True(b.Handle.IsCloseOnExec);
            a.Handle.SetCloseOnExec(false);
            Assert.False(a.Handle.IsCloseOnExec);
            a.Handle.SetCloseOnExec(true);
            Assert.True(a.Handle.IsCloseOnExec);
        }
    }

    [Fact]
    public void AChildInheritsADescriptorWithoutCloseOnExec()
    {
        var (ours, child) = UnixSocket.CreatePair();
        using (ours)
        using (child)
        {
            int number = TestSupport.RawFd(child.Handle);
            child.Handle.SetCloseOnExec(false);
            // /proc/self/fd of the child (readlink) shows whether the number is open there and what it is.
            var psi = new ProcessStartInfo("/bin/sh", ["-c", $"readlink /proc/$$/fd/{number}"]) { RedirectStandardOutput = true };
            using var process = Process.Start(psi)!;
            string output = process.StandardOutput.ReadToEnd().Trim();
            Assert.True(process.WaitForExit(10_000));
            Assert.StartsWith("socket:[", output, StringComparison.Ordinal);

            child.Handle.SetCloseOnExec(true);
            using var again = Process.Start(psi)!;
            string closed = again.StandardOutput.ReadToEnd().Trim();
            Assert.True(again.WaitForExit(10_000));
            Assert.Equal("", closed);
        }
    }
}
