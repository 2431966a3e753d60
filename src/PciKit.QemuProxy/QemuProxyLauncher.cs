using System.Diagnostics;
using PciKit.Device;
using PciKit.Linux;

namespace PciKit.QemuProxy;

/// <summary>
/// Prepares the link for <c>-device x-pci-proxy-dev,id=ID,fd=N</c>: a socketpair whose QEMU end is inheritable (FD_CLOEXEC
/// cleared, so a QEMU started by this process finds it as fd <see cref="QemuFd"/>) and whose other end this process
/// serves with <see cref="QemuProxyDevice"/>.
/// </summary>
/// <remarks>
/// <para>Typical use:</para>
/// <code>
/// using var link = QemuProxyLauncher.Create("pcikit0");
/// using var proxy = link.Serve(device);
/// using var qemu = link.StartQemu("qemu-system-x86_64", ["-machine", "pc,accel=kvm,memory-backend=mem",
///     "-object", "memory-backend-memfd,id=mem,size=512M,share=on", …]);
/// </code>
/// <para>While the QEMU end is open in this process, every child this process starts inherits it, not only QEMU:
/// start QEMU soon after <see cref="Create"/> and close the end here afterwards (<see cref="StartQemu"/> does, or call
/// <see cref="CloseQemuEnd"/>) — until it is closed here, the link does not see QEMU exit.</para>
/// </remarks>
public sealed class QemuProxyLauncher : IDisposable
{
    private UnixSocket? _deviceSocket;
    private UnixSocket? _qemuSocket;

    private QemuProxyLauncher(string id, UnixSocket deviceSocket, UnixSocket qemuSocket)
    {
        Id = id;
        _deviceSocket = deviceSocket;
        _qemuSocket = qemuSocket;
        QemuFd = (int)qemuSocket.Handle.DangerousGetHandle();
    }

    /// <summary>Creates the socketpair and makes its QEMU end inheritable.</summary>
    /// <param name="id">The QEMU device id (a letter, then letters, digits, '-', '.', '_').</param>
    public static QemuProxyLauncher Create(string id)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        if (!char.IsAsciiLetter(id[0]) || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_'))
            throw new ArgumentException($"'{id}' is not a valid QEMU id: it must start with a letter and contain only letters, digits, '-', '.' and '_'.", nameof(id));
        var (device, qemu) = UnixSocket.CreatePair();
        try
        {
            qemu.Handle.SetCloseOnExec(false);
        }
        catch
        {
            device.Dispose();
            qemu.Dispose();
            throw;
        }
        return new QemuProxyLauncher(id, device, qemu);
    }

    /// <summary>The QEMU device id.</summary>
    public string Id { get; }

    /// <summary>The descriptor number QEMU inherits and takes as <c>fd=</c>.</summary>
    public int QemuFd { get; }

    /// <summary>The <c>-device</c> value: <c>x-pci-proxy-dev,id=ID,fd=N</c>.</summary>
    public string DeviceArgument => $"x-pci-proxy-dev,id={Id},fd={QemuFd}";

    /// <summary>The QEMU arguments that attach the device: <c>-device x-pci-proxy-dev,id=ID,fd=N</c>.</summary>
    public IReadOnlyList<string> QemuArguments => ["-device", DeviceArgument];

    /// <summary>
    /// This process's end of the link, until <see cref="Serve"/> or <see cref="TakeDeviceSocket"/> hands it on.
    /// </summary>
    public UnixSocket DeviceSocket => _deviceSocket ?? throw new InvalidOperationException("The device end was already handed to a QemuProxyDevice.");

    /// <summary>Transfers this process's end of the link to the caller (to pass to <see cref="QemuProxyDevice.Start"/>).</summary>
    public UnixSocket TakeDeviceSocket()
    {
        var socket = DeviceSocket;
        _deviceSocket = null;
        return socket;
    }

    /// <summary>Starts serving <paramref name="device"/> on this process's end (see <see cref="QemuProxyDevice.Start"/>).</summary>
    public QemuProxyDevice Serve(PciDevice device, QemuProxyOptions? options = null)
    {
        QemuProxyDevice.EnsureSupported(device);
        return QemuProxyDevice.Start(device, TakeDeviceSocket(), options);
    }

    /// <summary>
    /// Starts QEMU with <paramref name="arguments"/> followed by <see cref="QemuArguments"/>, then closes the QEMU end in
    /// this process. Standard streams are inherited unless <paramref name="configure"/> redirects them.
    /// </summary>
    public Process StartQemu(string qemuPath, IEnumerable<string> arguments, Action<ProcessStartInfo>? configure = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(qemuPath);
        ArgumentNullException.ThrowIfNull(arguments);
        if (_qemuSocket is null) throw new InvalidOperationException("The QEMU end was already closed here; create a new launcher for another QEMU.");
        var psi = new ProcessStartInfo(qemuPath) { UseShellExecute = false };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        foreach (var a in QemuArguments) psi.ArgumentList.Add(a);
        configure?.Invoke(psi);
        try
        {
            return Process.Start(psi) ?? throw new InvalidOperationException($"{qemuPath} did not start.");
        }
        finally
        {
            CloseQemuEnd();
        }
    }

    /// <summary>Closes the QEMU end in this process (after QEMU started), so that the link ends when QEMU exits.</summary>
    public void CloseQemuEnd()
    {
        _qemuSocket?.Dispose();
        _qemuSocket = null;
    }

    /// <summary>Closes both ends still held here (not an end handed to a <see cref="QemuProxyDevice"/>).</summary>
    public void Dispose()
    {
        CloseQemuEnd();
        _deviceSocket?.Dispose();
        _deviceSocket = null;
    }
}
