using PciKit.Config;

namespace PciKit.Capabilities;

/// <summary>
/// Vendor-specific capability (ID 0x09): ID, next, a length byte, then vendor data. Data bytes are read-only unless a
/// write mask is given.
/// </summary>
public sealed class VendorSpecificCapability : PciCapability
{
    private readonly byte[] _data;
    private readonly byte[]? _writeMask;

    /// <summary>Creates the capability with <paramref name="data"/> following the 3-byte header.</summary>
    /// <param name="data">Vendor data (at most 250 bytes).</param>
    /// <param name="writeMask">Optional per-byte write mask for <paramref name="data"/>, same length.</param>
    public VendorSpecificCapability(ReadOnlySpan<byte> data, ReadOnlySpan<byte> writeMask = default)
    {
        if (data.Length > 0xFF - 3 - 0x40)
            throw new PciDefinitionException($"Vendor-specific data of {data.Length} bytes does not fit in the standard capability area; keep it under {0xFF - 3 - 0x40} bytes or use an extended capability.");
        if (!writeMask.IsEmpty && writeMask.Length != data.Length)
            throw new PciDefinitionException("The write mask of a vendor-specific capability must have one byte per data byte.");
        _data = data.ToArray();
        _writeMask = writeMask.IsEmpty ? null : writeMask.ToArray();
    }

    /// <inheritdoc />
    public override byte Id => (byte)PciCapabilityId.VendorSpecific;

    /// <inheritdoc />
    public override int Length => 3 + _data.Length;

    /// <inheritdoc />
    protected override void Initialize()
    {
        Set8(2, (byte)Length);
        for (int i = 0; i < _data.Length; i++)
        {
            Set8(3 + i, _data[i]);
            if (_writeMask is not null) Writable(3 + i, 1, _writeMask[i]);
        }
    }
}
