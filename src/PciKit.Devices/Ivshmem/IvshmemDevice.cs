using System.Numerics;
using PciKit.Capabilities;
using PciKit.Config;
using PciKit.Device;
using PciKit.Memory;

namespace PciKit.Devices.Ivshmem;

/// <summary>
/// The Inter-VM shared memory device (QEMU's <c>docs/specs/ivshmem-spec.rst</c>, revision 1): 1af4:1110 rev 1,
/// class 0x0500 (RAM controller), subsystem 1af4:1100. BAR0 holds 256 bytes of registers, BAR1 (doorbell variant)
/// the MSI-X table at 0 and PBA at 0x800, BAR2 the shared memory (64-bit, prefetchable, mmap-able when it is
/// shareable memory). See <see cref="IvshmemVariant"/> for the three variants.
/// </summary>
/// <remarks>
/// <para>Registers (BAR0, 4-byte accesses only, little-endian): 0x00 IntrMask (RW), 0x04 IntrStatus (RW; a read
/// returns it and clears it), 0x08 IVPosition (RO: the link's own id, 0 without a link), 0x0C Doorbell (WO:
/// <c>(peer &lt;&lt; 16) | vector</c>; only the low 8 bits of the vector are used, as in QEMU; a peer or vector that does
/// not exist is ignored and logged, rate-limited). 0x10–0xFF read 0 and ignore writes. Other access widths read
/// all-ones and are dropped (QEMU widens them to 4 bytes; the specification allows only 4).</para>
/// <para>Reset clears IntrMask and IntrStatus and the MSI-X table; the shared memory is left alone (peers own it too).</para>
/// <para>Threading: register handlers run under <see cref="PciDevice.SyncRoot"/>; <see cref="Notify"/> takes it.</para>
/// </remarks>
public sealed class IvshmemDevice : PciDevice
{
    /// <summary>Vendor ID (Red Hat / Qumranet).</summary>
    public const ushort VendorId = 0x1af4;
    /// <summary>Device ID.</summary>
    public const ushort DeviceId = 0x1110;
    /// <summary>Subsystem ID (vendor 1af4).</summary>
    public const ushort SubsystemId = 0x1100;
    /// <summary>Size of the register BAR.</summary>
    public const ulong RegisterBarSize = 0x100;
    /// <summary>Offset of the MSI-X capability in configuration space (doorbell variant), as in QEMU.</summary>
    public const int MsiXCapabilityOffset = 0x40;
    /// <summary>Smallest shared memory (one page, so it can be mmap'd).</summary>
    public const ulong MinSharedMemorySize = 4096;

    /// <summary>Register offsets in BAR0.</summary>
    public static class Registers
    {
        /// <summary>Interrupt Mask (RW).</summary>
        public const int IntrMask = 0x00;
        /// <summary>Interrupt Status (RW; reading clears it).</summary>
        public const int IntrStatus = 0x04;
        /// <summary>IVPosition (RO): the device's peer id.</summary>
        public const int IVPosition = 0x08;
        /// <summary>Doorbell (WO): <c>(peer &lt;&lt; 16) | vector</c>.</summary>
        public const int Doorbell = 0x0C;
    }

    private readonly MemoryBlock _sharedMemory;
    private readonly IIvshmemLink? _link;
    private uint _intrMask, _intrStatus;
    private long _doorbellsRung, _doorbellsIgnored, _notifications, _notificationsDropped;

    /// <summary>Creates the device described by <paramref name="options"/> (a plain device with 4 MiB of process memory by default).</summary>
    public IvshmemDevice(IvshmemOptions? options = null)
        : base(IdentityFor((options ??= new IvshmemOptions()).Variant))
    {
        Variant = options.Variant;
        if (Variant is < IvshmemVariant.Plain or > IvshmemVariant.Intx)
            throw new ArgumentOutOfRangeException(nameof(options), Variant, "The ivshmem variant is Plain, Doorbell or Intx.");
        if (Variant == IvshmemVariant.Plain && (options.Link is not null || options.Vectors is not null))
            throw new ArgumentException("ivshmem-plain has no interrupts: a link or vectors need IvshmemVariant.Doorbell (or Intx).", nameof(options));
        _link = options.Link;
        Vectors = Variant == IvshmemVariant.Plain ? 0 : options.Vectors ?? _link?.Vectors ?? 1;
        if (Variant != IvshmemVariant.Plain && Vectors is < 1 or > 2048)
            throw new ArgumentOutOfRangeException(nameof(options), Vectors, "An ivshmem device has 1 to 2048 vectors (QEMU's MSI-X limit).");

        _sharedMemory = options.SharedMemory ?? Allocate(options);
        CheckSharedMemorySize(_sharedMemory.Length, options.SharedMemory is null ? nameof(IvshmemOptions.SharedMemorySize) : nameof(IvshmemOptions.SharedMemory));

        DefineBar(0, PciBar.Memory32(RegisterBarSize).Add(0, new RegisterRegion("ivshmem-regs", RegisterBarSize, ReadRegister, WriteRegister, AccessSizes.Dword)));
        if (Variant == IvshmemVariant.Doorbell)
        {
            var (barSize, pbaOffset) = MsiXBarLayout(Vectors);
            DefineBar(1, PciBar.Memory32(barSize));
            AddCapability(new MsiXCapability(Vectors, tableBar: 1, tableOffset: 0, pbaBar: 1, pbaOffset: pbaOffset), MsiXCapabilityOffset);
        }
        DefineBar(2, PciBar.Memory64(_sharedMemory.Length, prefetchable: true).Add(0, new MemoryRegion("ivshmem-shm", _sharedMemory)));
        Realize();
    }

    /// <inheritdoc />
    public override string Name => Variant switch
    {
        IvshmemVariant.Doorbell => "ivshmem-doorbell",
        IvshmemVariant.Intx => "ivshmem-intx",
        _ => "ivshmem-plain",
    };

    /// <summary>The variant.</summary>
    public IvshmemVariant Variant { get; }

    /// <summary>Interrupt vectors (0 for the plain variant).</summary>
    public int Vectors { get; }

    /// <summary>The link to peers, if any.</summary>
    public IIvshmemLink? Link => _link;

    /// <summary>The memory behind BAR2 (owned by whoever supplied it, else by the device for its lifetime).</summary>
    public MemoryBlock SharedMemory => _sharedMemory;

    /// <summary>Doorbell writes the link accepted.</summary>
    public long DoorbellsRung => Volatile.Read(ref _doorbellsRung);

    /// <summary>Doorbell writes ignored: no link, or no such peer or vector.</summary>
    public long DoorbellsIgnored => Volatile.Read(ref _doorbellsIgnored);

    /// <summary>Peer interrupts received through <see cref="Notify"/> for an existing vector.</summary>
    public long Notifications => Volatile.Read(ref _notifications);

    /// <summary>Peer interrupts that went nowhere: vector out of range, or MSI-X disabled on the doorbell variant (as in QEMU).</summary>
    public long NotificationsDropped => Volatile.Read(ref _notificationsDropped);

    /// <summary>
    /// One of this device's own vectors was signalled by a peer (the link calls this from any thread; it takes the
    /// device lock). As QEMU's <c>ivshmem_vector_notify</c>: the doorbell variant raises MSI-X vector
    /// <paramref name="vector"/> when MSI-X is enabled (a masked vector sets its PBA bit) and drops it otherwise; the INTx
    /// variant sets IntrStatus to 1 and asserts INTx if IntrMask lets it through. A vector out of range is dropped and
    /// logged (rate-limited).
    /// </summary>
    public void Notify(int vector)
    {
        using var _ = SyncRoot.EnterScope();
        if ((uint)vector >= (uint)Vectors)
        {
            Interlocked.Increment(ref _notificationsDropped);
            LogGuestError($"peer interrupt on vector {vector} dropped: the device has {Vectors} vector(s)");
            return;
        }
        Interlocked.Increment(ref _notifications);
        if (Variant == IvshmemVariant.Doorbell)
        {
            if (Interrupts.MsiXEnabled) Interrupts.SignalMsiX(vector);
            else Interlocked.Increment(ref _notificationsDropped);
        }
        else
        {
            _intrStatus = 1;
            UpdateIntx();
        }
    }

    private ulong ReadRegister(ulong offset, int size)
    {
        switch (offset)
        {
            case Registers.IntrMask: return _intrMask;
            case Registers.IntrStatus:
                uint status = _intrStatus;
                _intrStatus = 0; // reading clears it
                UpdateIntx();
                return status;
            case Registers.IVPosition:
                int id = _link?.OwnId ?? 0;
                return id is >= 0 and <= 0xFFFF ? (uint)id : 0;
            default: return 0; // Doorbell is write-only; 0x10–0xFF are reserved
        }
    }

    private void WriteRegister(ulong offset, int size, ulong value)
    {
        uint v = (uint)value;
        switch (offset)
        {
            case Registers.IntrMask: _intrMask = v; UpdateIntx(); break;
            case Registers.IntrStatus: _intrStatus = v; UpdateIntx(); break;
            case Registers.Doorbell: RingDoorbell((int)(v >> 16), (int)(v & 0xFF)); break;
        }
    }

    private void RingDoorbell(int peer, int vector)
    {
        if (_link is null)
        {
            Interlocked.Increment(ref _doorbellsIgnored);
            LogGuestError($"doorbell for peer {peer} vector {vector} ignored: {Name} is not connected to peers");
        }
        else if (_link.Ring(peer, vector)) Interlocked.Increment(ref _doorbellsRung);
        else
        {
            Interlocked.Increment(ref _doorbellsIgnored);
            LogGuestError($"doorbell for peer {peer} vector {vector} ignored: no such peer or vector");
        }
    }

    private void UpdateIntx()
    {
        if (Variant == IvshmemVariant.Intx) Interrupts.SetIntx((_intrStatus & _intrMask) != 0);
    }

    /// <inheritdoc />
    protected override void OnReset(PciResetKind kind)
    {
        _intrMask = 0;
        _intrStatus = 0;
        UpdateIntx();
    }

    /// <summary>
    /// BAR1's size and the PBA's offset for <paramref name="vectors"/> MSI-X entries, as QEMU lays out an exclusive MSI-X
    /// BAR: 4 KiB with the table in the lower half and the PBA at 0x800 up to 128 vectors; beyond that the PBA follows
    /// the table and the BAR grows to the next power of two.
    /// </summary>
    internal static (ulong BarSize, ulong PbaOffset) MsiXBarLayout(int vectors)
    {
        ulong table = (ulong)vectors * 16;
        ulong pbaSize = ((ulong)vectors + 63) / 64 * 8;
        ulong pbaOffset = Math.Max(0x800UL, table);
        ulong size = Math.Max(0x1000UL, pbaOffset + pbaSize);
        return (BitOperations.RoundUpToPowerOf2(size), pbaOffset);
    }

    private static MemoryBlock Allocate(IvshmemOptions options)
    {
        CheckSharedMemorySize(options.SharedMemorySize, nameof(IvshmemOptions.SharedMemorySize));
        return (options.Allocator ?? HeapMemoryAllocator.Instance).Allocate("pcikit-ivshmem", options.SharedMemorySize);
    }

    private static void CheckSharedMemorySize(ulong size, string what)
    {
        if (size < MinSharedMemorySize || !BitOperations.IsPow2(size))
            throw new ArgumentOutOfRangeException(what, size, $"ivshmem shared memory must be a power of two of at least {MinSharedMemorySize} bytes (BAR2 is sized by it); 0x{size:x} is not. ivshmem-server rounds up to a power of two.");
    }

    private static PciIdentity IdentityFor(IvshmemVariant variant) => new()
    {
        VendorId = VendorId,
        DeviceId = DeviceId,
        Revision = 1,
        ClassCode = 0x050000, // memory controller, RAM
        SubsystemVendorId = VendorId,
        SubsystemId = SubsystemId,
        InterruptPin = variant == IvshmemVariant.Intx ? PciInterruptPin.IntA : PciInterruptPin.None,
    };
}
