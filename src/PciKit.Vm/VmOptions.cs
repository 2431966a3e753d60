using PciKit.VfioUser.Server;
using PciKit.Device;

namespace PciKit.Vm;

/// <summary>How the PciKit device reaches QEMU.</summary>
public enum VmTransport
{
    /// <summary>vfio-user (QEMU ≥ 10.1's <c>vfio-user-pci</c>, built by <c>scripts/build-qemu</c>): MSI/MSI-X, INTx under TCG, 64-bit BARs.</summary>
    VfioUser,
    /// <summary>QEMU 7.2's <c>x-pci-proxy-dev</c> (Debian's packaged QEMU): 32-bit BARs, INTx only under KVM.</summary>
    Proxy,
}

/// <summary>Accelerator choice.</summary>
public enum VmAccel
{
    /// <summary>KVM when a short boot probe succeeds, else TCG.</summary>
    Auto,
    /// <summary>KVM.</summary>
    Kvm,
    /// <summary>TCG (software emulation).</summary>
    Tcg,
}

/// <summary>What to boot and run.</summary>
public sealed record VmOptions
{
    /// <summary>The PciKit device to attach (null: none, e.g. with <see cref="QemuDevices"/> only).</summary>
    public PciDevice? Device { get; init; }

    /// <summary>Transport for <see cref="Device"/>.</summary>
    public VmTransport Transport { get; init; } = VmTransport.VfioUser;

    /// <summary>QEMU's own devices to add (<c>-device</c> values, e.g. "edu"), for comparisons.</summary>
    public IReadOnlyList<string> QemuDevices { get; init; } = [];

    /// <summary>Accelerator.</summary>
    public VmAccel Accel { get; init; } = VmAccel.Auto;

    /// <summary>Shell script run in the guest; its exit status is the run's result.</summary>
    public string Command { get; init; } = "true";

    /// <summary>Give an interactive shell on the console instead of running <see cref="Command"/>.</summary>
    public bool Shell { get; init; }

    /// <summary>q35 with an emulated Intel IOMMU (guest vfio-pci needs it for MSI/MSI-X); uses the vfio-user QEMU. A PciKit device then needs the vfio-user transport.</summary>
    public bool Iommu { get; init; }

    /// <summary>Guest RAM in MiB.</summary>
    public int MemoryMiB { get; init; } = 512;

    /// <summary>Kill the guest after this long.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Where the guest console is streamed as it arrives (null: not streamed, only returned).</summary>
    public TextWriter? Console { get; init; }

    /// <summary>Where progress lines of the runner go (null: nowhere).</summary>
    public TextWriter? Progress { get; init; }

    /// <summary>Extra kernel command-line arguments.</summary>
    public string ExtraKernelArgs { get; init; } = "";

    /// <summary>
    /// Extra QEMU arguments, appended as they are after the devices (e.g. <c>-drive</c> for QEMU's own disk devices beside
    /// a PciKit device, or <c>-chardev socket,path=SOCK,id=ivs -device ivshmem-doorbell,chardev=ivs,vectors=2</c> for a
    /// guest on an ivshmem server).
    /// </summary>
    public IReadOnlyList<string> ExtraQemuArgs { get; init; } = [];

    /// <summary>Settings of the vfio-user server that serves <see cref="Device"/> (e.g. its busy-poll time); the socket is the runner's.</summary>
    public VfioUserServerOptions? VfioUserServer { get; init; }
}

/// <summary>The outcome of a run.</summary>
/// <param name="ExitCode">The guest command's exit status (from its <c>PCIKIT-EXIT=</c> line); -1 when it never printed one.</param>
/// <param name="Console">Everything the guest printed.</param>
/// <param name="Elapsed">From QEMU's start to its exit.</param>
/// <param name="TimedOut">QEMU was killed after <see cref="VmOptions.Timeout"/>.</param>
/// <param name="QemuExitCode">QEMU's own exit code.</param>
/// <param name="Accel">The accelerator used.</param>
public sealed record VmResult(int ExitCode, string Console, TimeSpan Elapsed, bool TimedOut, int QemuExitCode, VmAccel Accel);
