using PciKit.Linux.Interop;

namespace PciKit.Linux.Tests;

public sealed class LinuxExceptionTests
{
    [Fact]
    public void CarriesErrnoNameAndCall()
    {
        var ex = new LinuxException(Errno.EAGAIN, "read(eventfd)");
        Assert.Equal(11, ex.Errno);
        Assert.Equal("EAGAIN", ex.ErrorName);
        Assert.Equal("read(eventfd)", ex.Call);
        Assert.True(ex.IsWouldBlock);
        Assert.StartsWith("read(eventfd): EAGAIN (", ex.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<IOException>(ex);
    }

    [Fact]
    public void FailedCallThrowsWithPath()
    {
        var ex = Assert.Throws<LinuxException>(() => SharedMemory.OpenShm("pcikit-does-not-exist-" + Guid.NewGuid().ToString("N"), 0, create: false));
        Assert.Equal("ENOENT", ex.ErrorName);
        Assert.Contains("/dev/shm/pcikit-does-not-exist-", ex.Call, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownErrnoHasNumericName() => Assert.Equal("E4000", Errno.Name(4000));
}
