using System.Buffers.Binary;
using PciKit.Device;
using PciKit.Driver;
using PciKit.Linux;
using PciKit.Memory;
using PciKit.VfioUser.Protocol;
using PciKit.VfioUser.Transport;

namespace PciKit.VfioUser.Client;

/// <summary>
/// A vfio-user client (the VMM side of QEMU's <c>docs/interop/vfio-user.rst</c>) that is a driver-API backend: wrap
/// it in a <see cref="PciFunction"/> (or call <see cref="Open(string, VfioUserClientOptions?)"/>) and the same driver
/// code that runs on the in-process bus drives a device served by another process.
/// </summary>
/// <remarks>
/// <para>One connection is one exclusive session: <see cref="IPciBackend.Open"/> only checks the connection;
/// <see cref="Dispose"/> closes the socket and every fd, eventfd, mapping and DMA buffer of the client.</para>
/// <para>Threads: requests are serialised by one lock, one in flight at a time, and the calling thread reads its own
/// reply (no hand-off). While it waits it serves the server's DMA_READ/DMA_WRITE commands against the client's DMA
/// buffers. Interrupt eventfds are waited on by the process's shared epoll thread.</para>
/// </remarks>
public sealed partial class VfioUserClient : IPciBackend
{
    private const int MaxRegions = (int)VfioPciRegion.Count;
    private const int MaxIrqs = (int)VfioPciIrq.Count;
    /// <summary>What the client offers in VERSION and accepts in one DMA_READ/DMA_WRITE.</summary>
    internal const int MaxDataTransfer = 1 << 20;
    /// <summary>Most fds the client accepts in one message.</summary>
    internal const int MaxClientFds = 16;

    private readonly Lock _lock = new();
    private readonly MessageSocket _socket;
    private readonly VfioUserClientOptions _options;
    private readonly byte[] _request = new byte[512];
    private readonly RegionDescription?[] _regions = new RegionDescription?[MaxRegions];
    private readonly IrqInfo[] _irqs = new IrqInfo[MaxIrqs];
    private VfioDeviceInfoFlags _deviceFlags;
    private VfioUserCapabilities _serverCaps;
    private int _disposed;

    private VfioUserClient(UnixSocket socket, string description, VfioUserClientOptions options)
    {
        _socket = new MessageSocket(socket, MaxClientFds, VfioUserHeader.HeaderSize + DmaReadMessage.FixedSize + MaxDataTransfer + 64);
        _options = options;
        Description = description;
        Address = options.Address;
        _dmaScratch = new byte[DmaReadMessage.FixedSize + MaxDataTransfer];
    }

    /// <summary>
    /// Connects to the vfio-user server listening at <paramref name="socketPath"/> and learns the device: VERSION
    /// (0.0, QEMU's capabilities), DEVICE_GET_INFO (must be a PCI device), DEVICE_GET_REGION_INFO for regions 0–8 and
    /// DEVICE_GET_IRQ_INFO for indices 0–4.
    /// </summary>
    /// <exception cref="LinuxException">The socket cannot be reached (ENOENT, ECONNREFUSED …).</exception>
    /// <exception cref="VfioUserException">The server refused the negotiation or is not a PCI device.</exception>
    public static VfioUserClient Connect(string socketPath, VfioUserClientOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        var socket = UnixSocket.Connect(socketPath);
        return Connect(socket, "vfio-user:" + socketPath, options);
    }

    /// <summary>Like <see cref="Connect(string, VfioUserClientOptions?)"/> over an already connected socket (e.g. one end of a socketpair); the client owns it.</summary>
    public static VfioUserClient Connect(UnixSocket socket, VfioUserClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(socket);
        return Connect(socket, "vfio-user", options);
    }

    private static VfioUserClient Connect(UnixSocket socket, string description, VfioUserClientOptions? options)
    {
        VfioUserClient? client = null;
        try
        {
            client = new VfioUserClient(socket, description, options ?? new VfioUserClientOptions());
            client.Handshake();
            return client;
        }
        catch
        {
            if (client is not null) client.Dispose();
            else socket.Dispose();
            throw;
        }
    }

    /// <summary>Connects (see <see cref="Connect(string, VfioUserClientOptions?)"/>) and wraps the client in a closed <see cref="PciFunction"/> that owns it.</summary>
    public static PciFunction Open(string socketPath, VfioUserClientOptions? options = null) => new(Connect(socketPath, options));

    /// <inheritdoc />
    public PciAddress Address { get; }

    /// <inheritdoc />
    public string Description { get; }

    /// <inheritdoc />
    public int ConfigSpaceSize { get; private set; }

    /// <summary>The DMA mode chosen in the options.</summary>
    public DmaMode DmaMode => _options.DmaMode;

    /// <summary>True once the server closed the connection (or a send failed); every request then throws <see cref="VfioUserDisconnectedException"/>.</summary>
    public bool IsDisconnected => _disconnected;

    /// <summary>Whether the server offers DEVICE_RESET.</summary>
    public bool SupportsReset => (_deviceFlags & VfioDeviceInfoFlags.Reset) != 0;

    /// <summary>Vectors the server offers for IRQ index <paramref name="index"/> (0 INTx, 1 MSI, 2 MSI-X, 3 ERR, 4 REQ).</summary>
    public int GetIrqCount(int index) => (uint)index < MaxIrqs ? (int)Math.Min(_irqs[index].Count, int.MaxValue) : 0;

    private void Handshake()
    {
        using var scope = _lock.EnterScope();
        NegotiateVersion();

        var info = new DeviceInfo(DeviceInfo.Size16, 0, 0, 0);
        int n = info.Write(_request);
        var reply = Request(VfioUserCommand.DeviceGetInfo, _request.AsSpan(0, n));
        if (!DeviceInfo.TryParse(reply, out info, out var error))
            throw Protocol(VfioUserCommand.DeviceGetInfo, error.Message);
        if ((info.Flags & VfioDeviceInfoFlags.Pci) == 0)
            throw new VfioUserException($"The vfio-user server at {Description} does not serve a PCI device (DEVICE_GET_INFO flags 0x{(uint)info.Flags:x}); PciKit drives PCI devices only.",
                (int)VfioUserCommand.DeviceGetInfo, 0);
        _deviceFlags = info.Flags;

        for (uint i = 0; i < Math.Min(info.NumRegions, (uint)MaxRegions); i++) _regions[i] = QueryRegion(i);
        for (uint i = 0; i < Math.Min(info.NumIrqs, (uint)MaxIrqs); i++) _irqs[i] = QueryIrq(i);

        ulong configSize = _regions[VfioPciRegion.Config]?.Size ?? 0;
        if (configSize < 256)
            throw new VfioUserException($"The vfio-user server at {Description} reports a {configSize}-byte configuration region; a PCI function has 256 or 4096 bytes.",
                (int)VfioUserCommand.DeviceGetRegionInfo, 0);
        ConfigSpaceSize = configSize >= 4096 ? 4096 : 256;
    }

    private void NegotiateVersion()
    {
        var offer = new VfioUserVersion(0, 0, new VfioUserCapabilities
        {
            MaxMessageFds = MaxClientFds,
            MaxDataTransferSize = MaxDataTransfer,
            MaxDmaMaps = 65535,
            PageSizes = 4096,
            WriteMultiple = false,
        });
        int n = offer.Write(_request);
        var reply = Request(VfioUserCommand.Version, _request.AsSpan(0, n));
        if (!VfioUserVersion.TryParse(reply, out var version, out var error))
            throw Protocol(VfioUserCommand.Version, error.Message);
        if (version.Major != offer.Major || version.Minor > offer.Minor)
            throw new VfioUserException($"The vfio-user server answered version {version.Major}.{version.Minor} to our {offer.Major}.{offer.Minor}; it must not be higher.",
                (int)VfioUserCommand.Version, 0);
        _serverCaps = version.Capabilities;
        ProtocolVersion = (version.Major, version.Minor);
    }

    private IrqInfo QueryIrq(uint index)
    {
        int n = new IrqInfo(IrqInfo.Size16, 0, index, 0).Write(_request);
        var reply = Request(VfioUserCommand.DeviceGetIrqInfo, _request.AsSpan(0, n));
        if (!IrqInfo.TryParse(reply, out var info, out var error)) throw Protocol(VfioUserCommand.DeviceGetIrqInfo, error.Message);
        if (info.Index != index) throw Protocol(VfioUserCommand.DeviceGetIrqInfo, $"asked for IRQ index {index}, got {info.Index}");
        return info;
    }

    // ------------------------------------------------------------------ IPciBackend: session

    /// <summary>The protocol version the server answered.</summary>
    public (int Major, int Minor) ProtocolVersion { get; private set; }

    /// <summary>Most fds the server accepts in one message (its <c>max_msg_fds</c>).</summary>
    public long ServerMaxMessageFds => _serverCaps.MaxMessageFds;

    /// <summary>Largest data transfer the server accepts in one message (its <c>max_data_xfer_size</c>).</summary>
    public ulong ServerMaxDataTransferSize => _serverCaps.MaxDataTransferSize;

    /// <summary>The regions 0–8 as the server described them (BAR0–5, ROM, config, VGA).</summary>
    public IReadOnlyList<VfioUserRegionInfo> Regions => _regions
        .Select((r, i) => r is null
            ? new VfioUserRegionInfo(i, 0, false, false, false, [])
            : new VfioUserRegionInfo(i, r.Size, (r.Flags & VfioRegionInfoFlags.Read) != 0, (r.Flags & VfioRegionInfoFlags.Write) != 0,
                (r.Flags & VfioRegionInfoFlags.Mmap) != 0, (r.SparseAreas ?? []).Select(a => (a.Offset, a.Size)).ToArray()))
        .ToArray();

    /// <summary>Checks that the connection is usable; the connection itself is the exclusive session.</summary>
    public void Open()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_disconnected) throw new VfioUserDisconnectedException($"The vfio-user server at {Description} has closed the connection; connect again.", 0);
    }

    /// <summary>Does nothing: the session ends when the client is disposed.</summary>
    public void Close() { }

    // ------------------------------------------------------------------ IPciBackend: register access

    /// <inheritdoc />
    public uint ConfigRead(int offset, int size) => (uint)RegionRead(VfioPciRegion.Config, (ulong)offset, size);

    /// <inheritdoc />
    public void ConfigWrite(int offset, int size, uint value) => RegionWrite(VfioPciRegion.Config, (ulong)offset, size, value);

    /// <inheritdoc />
    public ulong GetBarSize(int index) => (uint)index <= VfioPciRegion.Rom ? _regions[index]?.Size ?? 0 : 0;

    /// <inheritdoc />
    public ulong BarRead(int index, ulong offset, int size) => RegionRead(CheckBarIndex(index), offset, size);

    /// <inheritdoc />
    public void BarWrite(int index, ulong offset, int size, ulong value) => RegionWrite(CheckBarIndex(index), offset, size, value);

    private static uint CheckBarIndex(int index) =>
        (uint)index <= VfioPciRegion.Rom ? (uint)index : throw new ArgumentOutOfRangeException(nameof(index), index, "BARs are 0–5; the expansion ROM is 6.");

    private ulong RegionRead(uint region, ulong offset, int size)
    {
        if (size is not (1 or 2 or 4 or 8)) throw new ArgumentOutOfRangeException(nameof(size), size, "Accesses are 1, 2, 4 or 8 bytes.");
        ulong value;
        using (_lock.EnterScope())
        {
            int n = new RegionAccess(offset, region, (uint)size).Write(_request);
            var reply = Request(VfioUserCommand.RegionRead, _request.AsSpan(0, n));
            if (reply.Length != RegionAccess.FixedSize + size || !EchoMatches(reply, offset, region, size))
                throw Protocol(VfioUserCommand.RegionRead, $"the reply to a {size}-byte read of region {region} at 0x{offset:x} does not echo it with {size} data bytes");
            var data = reply[RegionAccess.FixedSize..];
            value = size switch
            {
                1 => data[0],
                2 => BinaryPrimitives.ReadUInt16LittleEndian(data),
                4 => BinaryPrimitives.ReadUInt32LittleEndian(data),
                _ => BinaryPrimitives.ReadUInt64LittleEndian(data),
            };
        }
        AfterReply();
        return value;
    }

    private void RegionWrite(uint region, ulong offset, int size, ulong value)
    {
        if (size is not (1 or 2 or 4 or 8)) throw new ArgumentOutOfRangeException(nameof(size), size, "Accesses are 1, 2, 4 or 8 bytes.");
        using (_lock.EnterScope())
        {
            Span<byte> data = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(data, value);
            int n = RegionAccess.WriteWithData(_request, offset, region, data[..size]);
            var reply = Request(VfioUserCommand.RegionWrite, _request.AsSpan(0, n));
            if (reply.Length < RegionAccess.FixedSize || !EchoMatches(reply, offset, region, size))
                throw Protocol(VfioUserCommand.RegionWrite, $"the reply to a {size}-byte write of region {region} at 0x{offset:x} does not echo it");
        }
        AfterReply();
    }

    private static bool EchoMatches(ReadOnlySpan<byte> reply, ulong offset, uint region, int size) =>
        BinaryPrimitives.ReadUInt64LittleEndian(reply) == offset
        && BinaryPrimitives.ReadUInt32LittleEndian(reply[8..]) == region
        && BinaryPrimitives.ReadUInt32LittleEndian(reply[12..]) == (uint)size;

    // ------------------------------------------------------------------ IPciBackend: reset

    /// <summary>Sends DEVICE_RESET (the kind is the server's to choose). Attached interrupts stay attached.</summary>
    public void Reset(PciResetKind kind)
    {
        if (!SupportsReset) throw new PciDriverException($"The vfio-user server at {Description} does not offer DEVICE_RESET; reset the device through its configuration space.");
        using (_lock.EnterScope()) Request(VfioUserCommand.DeviceReset, default);
        AfterReply();
    }

    // ------------------------------------------------------------------ teardown

    /// <summary>Closes the socket and every fd, eventfd, BAR mapping and DMA buffer of the client. Sends nothing.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _disconnected = true;
        _socket.Shutdown(); // wakes a request blocked on its reply, and the idle DMA thread's poll
        if (_idleDma is { } idle && idle != Thread.CurrentThread) idle.Join(TimeSpan.FromSeconds(5));
        StopAllInterrupts();
        using (_lock.EnterScope())
        {
            ReleaseAllMappings();
            ReleaseAllDma();
            foreach (var r in _regions) r?.Fd?.Dispose();
            _socket.Dispose();
        }
    }
}
