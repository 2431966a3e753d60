using System.Diagnostics;
using PciKit.Capabilities;
using PciKit.Config;
using PciKit.Device;

namespace PciKit.Devices.Virtio;

/// <summary>Transport options of a virtio PCI device.</summary>
public sealed record VirtioPciOptions
{
    /// <summary>
    /// Offer MSI-X (a config vector and one vector per queue). False omits the capability, so drivers fall back to
    /// INTx and the ISR status register.
    /// </summary>
    public bool MsiX { get; init; } = true;

    /// <summary>
    /// Offer VIRTIO_F_ACCESS_PLATFORM: the driver then hands the device IOVAs from its DMA API instead of physical
    /// addresses. Needed when the guest sees the device behind an IOMMU (a vfio-user device under QEMU's
    /// intel-iommu); off by default, as for QEMU's own virtio devices (iommu_platform=off), since it costs the guest
    /// a DMA mapping per buffer.
    /// </summary>
    public bool AccessPlatform { get; init; }
}

/// <summary>
/// The virtio 1.x modern PCI transport (virtio 1.2, 4.1) with split virtqueues (2.7), for any virtio device model.
/// A device names its type, queues, features and configuration size, and implements <see cref="HandleRequest"/>;
/// the transport owns the capabilities, the common configuration (feature negotiation, the status state machine,
/// queue setup), notifications, the ISR, MSI-X vectors and the ring walk.
/// </summary>
/// <remarks>
/// <para>Layout (as QEMU's virtio-pci): BAR4, 64-bit prefetchable, 16 KiB — common configuration at 0x0000, ISR at
/// 0x1000, device configuration at 0x2000, notifications at 0x3000 (queue <i>n</i> at 0x3000 + 4<i>n</i>); BAR1,
/// 4 KiB — the MSI-X table at 0 and PBA at 0x800. Vendor capabilities for each structure plus the PCI configuration
/// access capability; INTx pin A.</para>
/// <para>Threading: a notification write is served inline, under the device lock, on the thread that delivered it
/// (for vfio-user, the connection thread); ring and buffer accesses are DMA through <see cref="PciDevice.Dma"/>.</para>
/// <para>Guest faults (malformed rings, unmapped buffers, invalid register use) never throw: they are logged
/// (rate-limited), and faults in a queue set DEVICE_NEEDS_RESET and stop the device until the driver resets it.</para>
/// </remarks>
public abstract partial class VirtioPciDevice : PciDevice
{
    /// <summary>The virtio PCI vendor ID.</summary>
    public const ushort VendorId = 0x1af4;
    /// <summary>Modern device IDs are this plus the virtio device type.</summary>
    public const ushort ModernDeviceIdBase = 0x1040;
    /// <summary>VIRTIO_MSI_NO_VECTOR.</summary>
    public const ushort NoVector = 0xFFFF;
    /// <summary>The BAR holding the virtio structures.</summary>
    public const int StructureBar = 4;
    /// <summary>The BAR holding the MSI-X table and PBA.</summary>
    public const int MsiXBar = 1;
    /// <summary>Offset of the common configuration in <see cref="StructureBar"/>.</summary>
    public const ulong CommonOffset = 0x0000;
    /// <summary>Offset of the ISR status byte.</summary>
    public const ulong IsrOffset = 0x1000;
    /// <summary>Offset of the device-specific configuration.</summary>
    public const ulong DeviceConfigOffset = 0x2000;
    /// <summary>Offset of the notification area.</summary>
    public const ulong NotifyOffset = 0x3000;
    /// <summary>notify_off_multiplier: queue <i>n</i> is notified at <see cref="NotifyOffset"/> + n × this.</summary>
    public const uint NotifyMultiplier = 4;
    /// <summary>Length of the common configuration structure (virtio 1.2, up to queue_reset).</summary>
    public const int CommonConfigLength = 0x3C;

    private const ulong StructureBarSize = 0x4000, StructureSize = 0x1000;

    private readonly Virtqueue[] _queues;
    private readonly byte[] _deviceConfig;
    private readonly DescriptorChain _chain;
    private readonly List<(ulong Offset, RegisterRegion Region)> _structures = [];

    /// <summary>Creates and realizes the transport for a device of <paramref name="type"/>.</summary>
    /// <param name="type">The virtio device type (device ID 0x1040 + type).</param>
    /// <param name="classCode">PCI class code (24 bits).</param>
    /// <param name="queueSizes">Maximum size of each virtqueue (powers of two, up to 32768).</param>
    /// <param name="deviceFeatures">Device-specific and transport features the device offers; VERSION_1 is always added, ACCESS_PLATFORM when the options ask for it.</param>
    /// <param name="deviceConfigSize">Bytes of device-specific configuration (0: no device configuration structure).</param>
    /// <param name="options">Transport options.</param>
    protected VirtioPciDevice(VirtioDeviceType type, uint classCode, IReadOnlyList<ushort> queueSizes, ulong deviceFeatures, int deviceConfigSize, VirtioPciOptions? options)
        : base(new PciIdentity
        {
            VendorId = VendorId,
            DeviceId = (ushort)(ModernDeviceIdBase + (ushort)type),
            Revision = 0x01,
            ClassCode = classCode,
            SubsystemVendorId = VendorId,
            SubsystemId = 0x1100,
            InterruptPin = PciInterruptPin.IntA,
        })
    {
        ArgumentNullException.ThrowIfNull(queueSizes);
        options ??= new VirtioPciOptions();
        if (queueSizes.Count is < 1 or > 1024) throw new PciDefinitionException($"A virtio device has 1 to 1024 queues here; {queueSizes.Count} were given.");
        if (deviceConfigSize is < 0 or > (int)StructureSize) throw new PciDefinitionException($"Device configuration of {deviceConfigSize} bytes does not fit its 4 KiB structure.");
        _queues = new Virtqueue[queueSizes.Count];
        int largest = 0;
        for (int i = 0; i < _queues.Length; i++)
        {
            ushort size = queueSizes[i];
            if (size == 0 || size > Vring.MaxQueueSize || (size & (size - 1)) != 0)
                throw new PciDefinitionException($"Queue {i}: size {size} is not a power of two from 1 to {Vring.MaxQueueSize}.");
            _queues[i] = new Virtqueue(Dma, i, size);
            largest = Math.Max(largest, size);
        }
        DeviceType = type;
        DeviceFeatures = deviceFeatures | VirtioFeatures.Bit(VirtioFeatures.Version1) | (options.AccessPlatform ? VirtioFeatures.Bit(VirtioFeatures.AccessPlatform) : 0);
        _deviceConfig = new byte[deviceConfigSize];
        _chain = new DescriptorChain(Dma, largest);

        _structures.Add((CommonOffset, new RegisterRegion("virtio-common", 0x40, ReadCommon, WriteCommon, AccessSizes.Any)));
        _structures.Add((IsrOffset, new RegisterRegion("virtio-isr", 4, ReadIsr, WriteIsr, AccessSizes.Any)));
        if (deviceConfigSize > 0)
            _structures.Add((DeviceConfigOffset, new RegisterRegion("virtio-device", (ulong)deviceConfigSize, ReadDeviceConfig, WriteDeviceConfig, AccessSizes.Any)));
        _structures.Add((NotifyOffset, new RegisterRegion("virtio-notify", StructureSize, ReadNotify, WriteNotify, AccessSizes.Byte | AccessSizes.Word | AccessSizes.Dword)));
        var bar = PciBar.Memory64(StructureBarSize, prefetchable: true);
        foreach (var (offset, region) in _structures) bar.Add(offset, region);
        DefineBar(StructureBar, bar);
        if (options.MsiX)
        {
            DefineBar(MsiXBar, PciBar.Memory32(0x1000));
            AddCapability(new MsiXCapability(vectors: _queues.Length + 1, tableBar: MsiXBar, tableOffset: 0, pbaBar: MsiXBar, pbaOffset: 0x800));
        }
        AddCapability(new VirtioPciCapability(VirtioPciCapType.CommonCfg, StructureBar, CommonOffset, CommonConfigLength));
        AddCapability(new VirtioPciCapability(VirtioPciCapType.NotifyCfg, StructureBar, NotifyOffset, (ulong)_queues.Length * NotifyMultiplier, NotifyMultiplier));
        AddCapability(new VirtioPciCapability(VirtioPciCapType.IsrCfg, StructureBar, IsrOffset, 1));
        if (deviceConfigSize > 0)
            AddCapability(new VirtioPciCapability(VirtioPciCapType.DeviceCfg, StructureBar, DeviceConfigOffset, (ulong)deviceConfigSize));
        AddCapability(new VirtioPciCfgCapability());
        Realize();
        ResetTransport();
    }

    /// <summary>The virtio device type.</summary>
    public VirtioDeviceType DeviceType { get; }

    /// <summary>Features the device offers (VERSION_1 included).</summary>
    public ulong DeviceFeatures { get; }

    /// <summary>The virtqueues.</summary>
    public IReadOnlyList<Virtqueue> Queues => _queues;

    /// <summary>Requests completed since the device was created.</summary>
    public long CompletedRequests => Volatile.Read(ref _completed);

    /// <summary>Times the device set DEVICE_NEEDS_RESET since it was created.</summary>
    public long NeedsResetEvents => Volatile.Read(ref _needsResetEvents);

    /// <summary>Time spent serving queues (walking rings, handling requests, completing them), for diagnostics and benchmarks.</summary>
    public TimeSpan ServiceTime => Stopwatch.GetElapsedTime(0, Volatile.Read(ref _serviceTicks));

    /// <summary>Times the driver reset the device by writing 0 to device_status.</summary>
    public long DriverResets => Volatile.Read(ref _driverResets);

    /// <summary>Why the device last set DEVICE_NEEDS_RESET (null if never).</summary>
    public string? LastFault { get; private set; }

    /// <summary>The device-specific configuration bytes, which the device keeps current (little-endian fields).</summary>
    protected Span<byte> DeviceConfig => _deviceConfig;

    private long _completed, _needsResetEvents, _driverResets, _serviceTicks;

    /// <summary>
    /// Serves one request popped from <paramref name="queue"/>. Set <paramref name="written"/> to the number of bytes
    /// written into the chain's device-writable buffers and return true; return false after calling
    /// <see cref="SetNeedsReset"/> when the request is malformed or its buffers are unreachable.
    /// </summary>
    protected abstract bool HandleRequest(Virtqueue queue, DescriptorChain chain, out uint written);

    /// <summary>Checks the driver's features when it sets FEATURES_OK (already a subset of the offer, with VERSION_1). False refuses them; <paramref name="reason"/> is logged.</summary>
    protected virtual bool AcceptFeatures(ulong features, out string? reason)
    {
        reason = null;
        return true;
    }

    /// <summary>Resets device-specific state (a driver's status write of 0, or a PCI reset). Called under the lock.</summary>
    protected virtual void OnVirtioReset() { }

    /// <summary>A driver wrote device-specific configuration; the default refuses (read-only configuration).</summary>
    protected virtual void OnDeviceConfigWrite(int offset, int size, ulong value) =>
        LogGuestError($"write of {size} bytes at 0x{offset:x} to the read-only device configuration");

    /// <inheritdoc />
    protected sealed override void OnReset(PciResetKind kind) => ResetTransport();

    /// <summary>Logs a guest fault (rate-limited).</summary>
    internal void ReportGuestFault(string message) => LogGuestError(message);
}
