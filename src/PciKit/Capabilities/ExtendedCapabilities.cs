using PciKit.Config;

namespace PciKit.Capabilities;

/// <summary>Device Serial Number extended capability (ID 0x0003, version 1): a read-only 64-bit serial number.</summary>
public sealed class DeviceSerialNumberCapability : PciExtendedCapability
{
    /// <summary>Creates the capability with <paramref name="serialNumber"/> (an IEEE EUI-64).</summary>
    public DeviceSerialNumberCapability(ulong serialNumber) => SerialNumber = serialNumber;

    /// <summary>The serial number.</summary>
    public ulong SerialNumber { get; }

    /// <inheritdoc />
    public override ushort Id => (ushort)PciExtendedCapabilityId.DeviceSerialNumber;
    /// <inheritdoc />
    public override byte Version => 1;
    /// <inheritdoc />
    public override int Length => 12;

    /// <inheritdoc />
    protected override void Initialize() => Config.Set64(Offset + 4, SerialNumber);
}

/// <summary>
/// Any extended capability given as data: ID, version and the bytes after the header, read-only unless a per-byte
/// write mask is given. Vendor-specific extended capabilities (ID 0x000B) are a common use.
/// </summary>
public sealed class RawExtendedCapability : PciExtendedCapability
{
    private readonly byte[] _data;
    private readonly byte[]? _writeMask;

    /// <summary>Creates the capability.</summary>
    public RawExtendedCapability(ushort id, byte version, ReadOnlySpan<byte> data, ReadOnlySpan<byte> writeMask = default)
    {
        if (version > 0xF) throw new PciDefinitionException("An extended capability version is 4 bits (0–15).");
        if (data.Length % 4 != 0) throw new PciDefinitionException($"Extended capability data must be a whole number of dwords; {data.Length} bytes is not.");
        if (data.Length > PciHeader.ExtendedSize - 0x100 - 4) throw new PciDefinitionException("The extended capability does not fit in the 4 KiB configuration space.");
        if (!writeMask.IsEmpty && writeMask.Length != data.Length) throw new PciDefinitionException("The write mask must have one byte per data byte.");
        Id = id;
        Version = version;
        _data = data.ToArray();
        _writeMask = writeMask.IsEmpty ? null : writeMask.ToArray();
    }

    /// <inheritdoc />
    public override ushort Id { get; }
    /// <inheritdoc />
    public override byte Version { get; }
    /// <inheritdoc />
    public override int Length => 4 + _data.Length;

    /// <inheritdoc />
    protected override void Initialize()
    {
        Config.SetBytes(Offset + 4, _data);
        if (_writeMask is null) return;
        for (int i = 0; i < _writeMask.Length; i++) Config.SetWriteMask(Offset + 4 + i, 1, _writeMask[i]);
    }
}
