using System.Runtime.CompilerServices;
using PciKit.Capabilities;
using PciKit.Config;

namespace PciKit.Device;

/// <summary>
/// A PCI function as a device model author writes it. The device declares its identity, BARs and capabilities as
/// data (<see cref="DefineBar"/>, <see cref="AddCapability{T}"/>) and supplies handlers; then <see cref="Realize"/>
/// builds the configuration space (header, BAR sizing masks, capability chain) and seals it. The standard header
/// and capabilities are owned here; devices do not re-implement them.
/// </summary>
/// <remarks>
/// <para>Lifecycle: construct → define → <see cref="Realize"/> → <see cref="Connect"/> to a host → serve accesses.</para>
/// <para>Threading: every entry point (<see cref="ConfigRead"/>, <see cref="BarRead"/>, …) takes <see cref="SyncRoot"/>;
/// register handlers run under it. Background work of a device (timers, worker threads) takes the same lock.</para>
/// <para>Guest or client faults never throw: invalid accesses read all-ones, writes are dropped, and both are counted
/// in <see cref="Counters"/> and logged (rate-limited) to <see cref="Log"/>.</para>
/// </remarks>
public abstract partial class PciDevice : IConfigWriteObserver
{
    /// <summary>Index used for the expansion ROM in BAR-indexed APIs (BARs are 0–5).</summary>
    public const int RomIndex = 6;

    private readonly PciBar?[] _bars = new PciBar?[7];
    private readonly List<(PciCapability Cap, int? Offset)> _caps = [];
    private readonly List<(PciExtendedCapability Cap, int? Offset)> _extCaps = [];
    private readonly LogRateLimiter _rateLimiter = new();
    private ConfigSpace? _config;
    private ConfigCapability[] _readObservers = [];
    private PciCommand? _commandFeatures;
    private bool _flrRequested;
    private bool _pmResetRequested;
    private PciPowerState _powerState;

    /// <summary>Creates a device with <paramref name="identity"/>.</summary>
    protected PciDevice(PciIdentity identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        identity.Validate();
        Identity = identity;
        Interrupts = new InterruptController(this);
        Dma = new DmaPort(this);
    }

    /// <summary>IDs, class, interrupt pin.</summary>
    public PciIdentity Identity { get; }

    /// <summary>The lock that serialises every access to the device.</summary>
    public Lock SyncRoot { get; } = new();

    /// <summary>What the device saw: invalid accesses, refused DMA, messages, resets.</summary>
    public DeviceCounters Counters { get; } = new();

    /// <summary>Where guest/client faults are logged (rate-limited). Defaults to <see cref="PciLog.Null"/>.</summary>
    public IPciLog Log { get; set; } = PciLog.Null;

    /// <summary>A short name for logs (defaults to the type name).</summary>
    public virtual string Name => GetType().Name;

    /// <summary>INTx, MSI and MSI-X signalling.</summary>
    public InterruptController Interrupts { get; }

    /// <summary>DMA into the memory the host maps for the device.</summary>
    public DmaPort Dma { get; }

    /// <summary>True once <see cref="Realize"/> has run.</summary>
    public bool IsRealized => _config is not null;

    /// <summary>The configuration space (after <see cref="Realize"/>).</summary>
    public ConfigSpace Config => _config ?? throw new InvalidOperationException($"{Name} is not realized yet; call Realize() after defining BARs and capabilities.");

    /// <summary>The MSI capability, if any.</summary>
    public MsiCapability? Msi { get; private set; }

    /// <summary>The MSI-X capability, if any.</summary>
    public MsiXCapability? MsiX { get; private set; }

    /// <summary>The power state (D0 unless a Power Management capability moved it).</summary>
    public PciPowerState PowerState => _powerState;

    /// <summary>The standard capabilities in list order.</summary>
    public IEnumerable<PciCapability> Capabilities => _caps.Select(c => c.Cap);

    /// <summary>The extended capabilities in list order.</summary>
    public IEnumerable<PciExtendedCapability> ExtendedCapabilities => _extCaps.Select(c => c.Cap);

    /// <summary>The BAR at <paramref name="index"/> (0–5, or <see cref="RomIndex"/>), or null if not implemented.</summary>
    public PciBar? GetBar(int index) => (uint)index < (uint)_bars.Length ? _bars[index] : null;

    /// <summary>
    /// Command register bits the device implements (writable). Default: I/O and/or Memory Space per the BARs, Bus
    /// Master, SERR# Enable, Parity Error Response, and Interrupt Disable when there is an interrupt pin.
    /// </summary>
    public PciCommand CommandFeatures
    {
        get => _commandFeatures ?? DefaultCommandFeatures();
        protected set { EnsureConfiguring(); _commandFeatures = value; }
    }

    // ------------------------------------------------------------------ definition stage

    /// <summary>Declares BAR <paramref name="index"/> (0–5, or <see cref="RomIndex"/> for an expansion ROM).</summary>
    protected PciBar DefineBar(int index, PciBar bar)
    {
        EnsureConfiguring();
        ArgumentNullException.ThrowIfNull(bar);
        if ((uint)index > RomIndex) throw new PciDefinitionException($"BAR index {index} is out of range; BARs are 0–5 and the expansion ROM is {RomIndex}.");
        if ((index == RomIndex) != (bar.Kind == PciBarKind.Rom))
            throw new PciDefinitionException(index == RomIndex ? "Index 6 is the expansion ROM; create it with PciBar.Rom." : $"An expansion ROM goes at index {RomIndex}, not BAR {index}.");
        if (_bars[index] is not null) throw new PciDefinitionException($"BAR {index} is already defined.");
        if (bar.Kind == PciBarKind.Memory64)
        {
            if (index == 5) throw new PciDefinitionException("A 64-bit BAR takes two slots; BAR 5 has no slot after it. Use BAR 0–4.");
            if (_bars[index + 1] is not null) throw new PciDefinitionException($"A 64-bit BAR at {index} needs slot {index + 1}, which is already defined.");
        }
        if (index > 0 && index < RomIndex && _bars[index - 1]?.Kind == PciBarKind.Memory64)
            throw new PciDefinitionException($"BAR {index} is the upper half of the 64-bit BAR {index - 1}.");
        _bars[index] = bar;
        return bar;
    }

    /// <summary>Adds a capability to the standard list; <paramref name="offset"/> places it explicitly (0x40–0xFC, dword aligned).</summary>
    protected T AddCapability<T>(T capability, int? offset = null) where T : PciCapability
    {
        EnsureConfiguring();
        ArgumentNullException.ThrowIfNull(capability);
        if (capability is MsiCapability msi) { if (Msi is not null) throw new PciDefinitionException("A function has at most one MSI capability."); Msi = msi; }
        if (capability is MsiXCapability msix) { if (MsiX is not null) throw new PciDefinitionException("A function has at most one MSI-X capability."); MsiX = msix; }
        if (capability is PowerManagementCapability && _caps.Any(c => c.Cap is PowerManagementCapability))
            throw new PciDefinitionException("A function has at most one Power Management capability.");
        if (capability is PciExpressCapability && _caps.Any(c => c.Cap is PciExpressCapability))
            throw new PciDefinitionException("A function has at most one PCI Express capability.");
        _caps.Add((capability, offset));
        return capability;
    }

    /// <summary>Adds an extended capability (needs a PCI Express capability); the list starts at 0x100.</summary>
    protected T AddExtendedCapability<T>(T capability, int? offset = null) where T : PciExtendedCapability
    {
        EnsureConfiguring();
        ArgumentNullException.ThrowIfNull(capability);
        _extCaps.Add((capability, offset));
        return capability;
    }

    /// <summary>Builds and seals the configuration space. Call once, after the definitions.</summary>
    protected void Realize()
    {
        EnsureConfiguring();
        var layout = new ConfigLayout(this);
        ConfigSpace config;
        try
        {
            config = layout.Build(_bars, _caps, _extCaps, CommandFeatures);
            foreach (var (cap, _) in _caps) cap.OnRealized();
        }
        catch
        {
            _config = null;
            throw;
        }
        config.Observe(PciHeader.Command, 2, this);
        config.CapturePowerOnState();
        _readObservers = [.. _caps.Select(c => (ConfigCapability)c.Cap).Concat(_extCaps.Select(c => c.Cap)).Where(c => c.ObservesReads)];
    }

    internal void AdoptConfig(ConfigSpace config) => _config = config;

    internal void PlaceRegion(int bar, ulong offset, BarRegion region)
    {
        var target = GetBar(bar) ?? throw new PciDefinitionException($"Region '{region.Name}' goes into BAR {bar}, which is not defined; define the BAR first.");
        if (!target.IsMemory) throw new PciDefinitionException($"Region '{region.Name}' needs a memory BAR; BAR {bar} is {target.Kind}.");
        target.Add(offset, region);
    }

    private PciCommand DefaultCommandFeatures()
    {
        var c = PciCommand.BusMaster | PciCommand.SerrEnable | PciCommand.ParityErrorResponse;
        foreach (var bar in _bars)
        {
            if (bar is null) continue;
            c |= bar.Kind == PciBarKind.Io ? PciCommand.IoSpace : PciCommand.MemorySpace;
        }
        if (Identity.InterruptPin != PciInterruptPin.None) c |= PciCommand.InterruptDisable;
        return c;
    }

    private void EnsureConfiguring()
    {
        if (_config is not null) throw new InvalidOperationException($"{Name} is already realized; BARs, capabilities and command features are defined before Realize().");
    }

    // ------------------------------------------------------------------ host attachment

    /// <summary>Attaches the device to a host that receives its interrupts and serves its DMA; null detaches.</summary>
    public void Connect(IInterruptSink? interrupts, IDmaSpace? dma)
    {
        using var scope = SyncRoot.EnterScope();
        _ = Config;
        Interrupts.Connect(interrupts);
        Dma.Connect(dma);
    }

    /// <summary>Detaches the device from its host (interrupts and DMA go nowhere).</summary>
    public void Disconnect() => Connect(null, null);

    // ------------------------------------------------------------------ configuration space

    /// <summary>A configuration read of 1, 2 or 4 bytes. Invalid accesses read all-ones and are counted.</summary>
    public uint ConfigRead(int offset, int size)
    {
        using var _ = SyncRoot.EnterScope();
        var cfg = Config;
        if (!cfg.IsValidAccess(offset, size))
        {
            InvalidConfigAccess(offset, size, write: false);
            return cfg.Read(offset, size);
        }
        var observers = _readObservers;
        for (int i = 0; i < observers.Length; i++)
        {
            var c = observers[i];
            if (offset < c.Offset + c.Length && offset + size > c.Offset) c.OnConfigRead(offset, size);
        }
        return cfg.Read(offset, size);
    }

    /// <summary>A configuration write of 1, 2 or 4 bytes through the masks. Invalid accesses are dropped and counted.</summary>
    public void ConfigWrite(int offset, int size, uint value)
    {
        using var _ = SyncRoot.EnterScope();
        if (!Config.Write(offset, size, value))
        {
            InvalidConfigAccess(offset, size, write: true);
            return;
        }
        if (_flrRequested)
        {
            _flrRequested = false;
            ResetLocked(PciResetKind.FunctionLevel);
        }
        else if (_pmResetRequested)
        {
            _pmResetRequested = false;
            ResetLocked(PciResetKind.PowerManagement);
        }
    }

    void IConfigWriteObserver.OnConfigWrite(int offset, int size, uint value) => Interrupts.Reevaluate();

    internal void RequestFunctionLevelReset() => _flrRequested = true;

    internal void OnPowerStateChanged(PciPowerState previous, PciPowerState next, bool resetRequired)
    {
        _powerState = next;
        if (resetRequired) _pmResetRequested = true;
        OnPowerStateChange(previous, next);
    }

    /// <summary>Called under the lock when a driver moves the device between D0 and D3hot.</summary>
    protected virtual void OnPowerStateChange(PciPowerState previous, PciPowerState next) { }

    // ------------------------------------------------------------------ reset

    /// <summary>Resets the function to its power-on state (configuration space, capabilities, interrupts, device state).</summary>
    public void Reset(PciResetKind kind = PciResetKind.Conventional)
    {
        using var _ = SyncRoot.EnterScope();
        ResetLocked(kind);
    }

    private void ResetLocked(PciResetKind kind)
    {
        Counters.Increment(ref Counters.Resets);
        AdvanceEpoch();
        Config.RestorePowerOnState();
        _powerState = PciPowerState.D0;
        foreach (var (cap, _) in _caps) cap.OnReset();
        foreach (var (cap, _) in _extCaps) cap.OnReset();
        Interrupts.OnReset();
        OnReset(kind);
    }

    /// <summary>Resets device-specific state; called under the lock after the configuration space was restored.</summary>
    protected virtual void OnReset(PciResetKind kind) { }

    // ------------------------------------------------------------------ faults

    internal bool ShouldLog(GuestErrorKind kind, out int suppressed)
    {
        if (ReferenceEquals(Log, PciLog.Null)) { suppressed = 0; return false; }
        if (_rateLimiter.TryAcquire(kind, out suppressed)) return true;
        Counters.Increment(ref Counters.LogLinesSuppressed);
        return false;
    }

    internal void WriteGuestError(int suppressed, string message) =>
        Log.Write(PciLogLevel.Warning, Name, suppressed > 0 ? $"{message} ({suppressed} similar lines suppressed)" : message);

    internal void ReportGuestError(GuestErrorKind kind, string message)
    {
        if (ShouldLog(kind, out int suppressed)) WriteGuestError(suppressed, message);
    }

    /// <summary>Logs a fault caused by the guest or client (rate-limited); for device models' own checks.</summary>
    protected void LogGuestError(string message) => ReportGuestError(GuestErrorKind.Device, message);

    private void InvalidConfigAccess(int offset, int size, bool write)
    {
        Counters.Increment(ref Counters.InvalidConfigAccesses);
        if (ShouldLog(GuestErrorKind.ConfigAccess, out int suppressed))
            WriteGuestError(suppressed, $"invalid config {(write ? "write" : "read")} of {size} bytes at 0x{offset:x}");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong AllOnes(int size) => size >= 8 || size <= 0 ? ulong.MaxValue : (1UL << (size * 8)) - 1;
}
