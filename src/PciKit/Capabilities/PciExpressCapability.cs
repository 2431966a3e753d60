using PciKit.Config;

namespace PciKit.Capabilities;

/// <summary>The device/port type field of the PCI Express capability.</summary>
public enum PciExpressDeviceType : byte
{
    /// <summary>PCI Express Endpoint.</summary>
    Endpoint = 0x0,
    /// <summary>Legacy PCI Express Endpoint.</summary>
    LegacyEndpoint = 0x1,
    /// <summary>Root Complex Integrated Endpoint.</summary>
    RootComplexIntegratedEndpoint = 0x9,
}

/// <summary>
/// PCI Express capability (ID 0x10, version 2) for an endpoint: Device Capabilities/Control/Status, Link
/// Capabilities/Control/Status (x1, 2.5 GT/s, endpoints only) and the version-2 Device/Link Capabilities 2 and
/// Control 2 registers. With <see cref="FunctionLevelResetCapable"/>, writing Initiate Function Level Reset resets the
/// function to its power-on state. A device with this capability gets a 4 KiB configuration space.
/// </summary>
public sealed class PciExpressCapability : PciCapability
{
    private const int Caps = 2, DevCap = 4, DevCtl = 8, DevSta = 0xA, LinkCap = 0xC, LinkCtl = 0x10, LinkSta = 0x12;
    private const int DevCap2 = 0x24, DevCtl2 = 0x28, LinkCap2 = 0x2C, LinkCtl2 = 0x30;
    private const uint FlrCapable = 1u << 28, RoleBasedErrorReporting = 1u << 15;

    /// <summary>Creates the capability.</summary>
    /// <param name="type">Device/port type; endpoints only.</param>
    /// <param name="functionLevelReset">Advertise and implement Function Level Reset.</param>
    /// <param name="maxPayloadSize">Max_Payload_Size supported: 128, 256, 512, 1024, 2048 or 4096 bytes.</param>
    public PciExpressCapability(PciExpressDeviceType type = PciExpressDeviceType.Endpoint, bool functionLevelReset = true, int maxPayloadSize = 128)
    {
        int encoded = maxPayloadSize switch { 128 => 0, 256 => 1, 512 => 2, 1024 => 3, 2048 => 4, 4096 => 5, _ => -1 };
        if (encoded < 0) throw new PciDefinitionException($"Max_Payload_Size must be 128, 256, 512, 1024, 2048 or 4096 bytes; {maxPayloadSize} is not.");
        DeviceType = type;
        FunctionLevelResetCapable = functionLevelReset;
        MaxPayloadEncoding = encoded;
    }

    /// <summary>Device/port type.</summary>
    public PciExpressDeviceType DeviceType { get; }
    /// <summary>FLR advertised and implemented.</summary>
    public bool FunctionLevelResetCapable { get; }
    private int MaxPayloadEncoding { get; }
    private bool HasLink => DeviceType != PciExpressDeviceType.RootComplexIntegratedEndpoint;

    /// <inheritdoc />
    public override byte Id => (byte)PciCapabilityId.PciExpress;

    /// <inheritdoc />
    public override int Length => 0x3C;

    /// <summary>The Device Control register.</summary>
    public ushort DeviceControl => Get16(DevCtl);

    /// <inheritdoc />
    protected override void Initialize()
    {
        Set16(Caps, (ushort)(0x2 | ((int)DeviceType << 4)));
        uint devCap = (uint)MaxPayloadEncoding | RoleBasedErrorReporting;
        if (FunctionLevelResetCapable) devCap |= FlrCapable;
        Set32(DevCap, devCap);
        // Device Control: error reporting enables, relaxed ordering, Max_Payload_Size, extended tag, phantom, aux PM,
        // no snoop, Max_Read_Request_Size are read-write. Initiate FLR (bit 15) always reads 0.
        Set16(DevCtl, 0x2810); // power-on: relaxed ordering, no snoop, MRRS 512 B (the PCIe default)
        Writable(DevCtl, 2, 0x7FFF);
        WriteOneToClear(DevSta, 2, 0x000F);
        if (HasLink)
        {
            Set32(LinkCap, 0x0000_0011); // 2.5 GT/s, x1, no ASPM, port 0
            Writable(LinkCtl, 2, 0x01C3); // ASPM control, common clock, extended synch, clock PM
            Set16(LinkSta, 0x0011);      // 2.5 GT/s, x1
            Set32(LinkCap2, 0x0000_0002); // supported speeds: 2.5 GT/s
            Set16(LinkCtl2, 0x0001);
            Writable(LinkCtl2, 2, 0x000F);
        }
        // Device Capabilities 2 advertises no optional feature, so Device Control 2 has no writable bit.
        Set32(DevCap2, 0);
        Set16(DevCtl2, 0);
    }

    /// <inheritdoc />
    public override void OnConfigWrite(int offset, int size, uint value)
    {
        if (!FunctionLevelResetCapable || !Touches(offset, size, DevCtl + 1, 1)) return;
        int bit = 8 * (Offset + DevCtl - offset) + 15; // position of Initiate FLR within the written value
        if (((value >> bit) & 1) != 0) Device.RequestFunctionLevelReset();
    }
}
