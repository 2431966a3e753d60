using System.Buffers.Binary;

namespace PciKit.Inspection;

/// <summary>
/// Read-only copy of a configuration space padded to 4 KiB; bytes past the end read as 0xff,
/// like a missing function.
/// </summary>
internal sealed class ConfigView
{
    internal const int ExtendedSize = 4096;
    private readonly byte[] _bytes = new byte[ExtendedSize];

    internal ConfigView(ReadOnlySpan<byte> config)
    {
        int n = Math.Min(config.Length, ExtendedSize);
        config[..n].CopyTo(_bytes);
        _bytes.AsSpan(n).Fill(0xff);
        Length = n;
    }

    /// <summary>Number of bytes the caller supplied (at most 4096).</summary>
    internal int Length { get; }

    /// <summary>True when the caller supplied more than the 256-byte conventional space.</summary>
    internal bool HasExtendedSpace => Length > 256;

    internal byte U8(int offset) => (uint)offset < ExtendedSize ? _bytes[offset] : (byte)0xff;

    internal ushort U16(int offset) => (uint)offset <= ExtendedSize - 2
        ? BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan(offset))
        : (ushort)0xffff;

    internal uint U32(int offset) => (uint)offset <= ExtendedSize - 4
        ? BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(offset))
        : 0xffffffffu;

    internal ReadOnlySpan<byte> Bytes(int count) => _bytes.AsSpan(0, Math.Min(count, ExtendedSize));
}
