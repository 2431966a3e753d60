using PciKit.Capabilities;
using PciKit.Config;
using PciKit.Device;

namespace PciKit.Tests.TestDevices;

/// <summary>
/// A PCI Express endpoint with every interrupt mechanism: INTA#, MSI (4 vectors, 64-bit, per-vector masking),
/// MSI-X (8 vectors; table at BAR2+0x2000, PBA at BAR2+0x3000), Power Management, FLR and a Device Serial Number.
/// BAR0: 4 KiB of dword/qword registers (a scratch register file); BAR2: 16 KiB, 64-bit.
/// </summary>
public sealed class InterruptDevice : PciDevice
{
    public const int MsiXVectors = 8;
    public const ulong TableOffset = 0x2000, PbaOffset = 0x3000;
    public const ulong SerialNumber = 0x0011_2233_4455_6677;
    private readonly ulong[] _scratch = new ulong[0x100 / 8];

    public InterruptDevice(bool noSoftReset = true, bool flr = true) : base(TestIds.WithPin with { DeviceId = 0x1001, ClassCode = 0x020000 })
    {
        DefineBar(0, PciBar.Memory32(0x1000)).Add(0, new RegisterRegion("scratch", 0x100,
            (o, s) => s == 8 ? _scratch[o / 8] : (uint)(_scratch[o / 8] >> (int)(8 * (o & 4))),
            (o, s, v) => _scratch[o / 8] = s == 8 ? v : (_scratch[o / 8] & ~(0xFFFF_FFFFUL << (int)(8 * (o & 4)))) | (v << (int)(8 * (o & 4))),
            AccessSizes.DwordOrQword));
        DefineBar(2, PciBar.Memory64(0x4000));
        PowerManagement = AddCapability(new PowerManagementCapability(noSoftReset));
        AddCapability(new MsiCapability(vectors: 4, is64Bit: true, perVectorMask: true));
        AddCapability(new MsiXCapability(MsiXVectors, 2, TableOffset, 2, PbaOffset));
        Express = AddCapability(new PciExpressCapability(functionLevelReset: flr));
        AddExtendedCapability(new DeviceSerialNumberCapability(SerialNumber));
        Realize();
    }

    public PowerManagementCapability PowerManagement { get; }
    public PciExpressCapability Express { get; }
    public List<PciResetKind> ResetKinds { get; } = [];

    protected override void OnReset(PciResetKind kind)
    {
        Array.Clear(_scratch);
        ResetKinds.Add(kind);
    }

    public bool SignalMsi(int vector) => this.Locked(() => Interrupts.SignalMsi(vector));
    public bool SignalMsiX(int vector) => this.Locked(() => Interrupts.SignalMsiX(vector));
    public void SetIntx(bool level) => this.Locked(() => Interrupts.SetIntx(level));

    /// <summary>Config offset of capability <paramref name="id"/> (device side).</summary>
    public int CapOffset(PciCapabilityId id) => Capabilities.Single(c => c.Id == (byte)id).Offset;
}
