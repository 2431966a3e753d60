using System.Buffers.Binary;

namespace PciKit.Tests.Inspection;

/// <summary>Builds a configuration space image by hand: type-0 header, capability list and extended capabilities.</summary>
internal sealed class ConfigSpaceBuilder
{
    private readonly byte[] _bytes;
    private int _lastCapNext = 0x34;
    private int _nextCap = 0x40;
    private int _lastExt = -1;
    private int _nextExt = 0x100;

    internal ConfigSpaceBuilder(ushort vendor, ushort device, int size = 256)
    {
        _bytes = new byte[size];
        U16(0x00, vendor);
        U16(0x02, device);
    }

    internal ConfigSpaceBuilder U8(int offset, byte value)
    {
        _bytes[offset] = value;
        return this;
    }

    internal ConfigSpaceBuilder U16(int offset, ushort value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan(offset), value);
        return this;
    }

    internal ConfigSpaceBuilder U32(int offset, uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan(offset), value);
        return this;
    }

    internal ConfigSpaceBuilder Command(ushort value) => U16(0x04, value);

    internal ConfigSpaceBuilder Status(ushort value) => U16(0x06, value);

    internal ConfigSpaceBuilder Class(uint classCode, byte revision)
        => U8(0x08, revision).U8(0x09, (byte)classCode).U8(0x0a, (byte)(classCode >> 8)).U8(0x0b, (byte)(classCode >> 16));

    internal ConfigSpaceBuilder Bar(int index, uint value) => U32(0x10 + (4 * index), value);

    internal ConfigSpaceBuilder Subsystem(ushort vendor, ushort device) => U16(0x2c, vendor).U16(0x2e, device);

    internal ConfigSpaceBuilder Rom(uint value) => U32(0x30, value);

    internal ConfigSpaceBuilder Interrupt(byte line, byte pin) => U8(0x3c, line).U8(0x3d, pin);

    /// <summary>Appends a capability (body = bytes after ID/next) and links it into the list; sets Status.CapList.</summary>
    internal ConfigSpaceBuilder Capability(byte id, params byte[] body)
    {
        int at = _nextCap;
        _bytes[at] = id;
        _bytes[at + 1] = 0;
        body.CopyTo(_bytes, at + 2);
        _bytes[_lastCapNext] = (byte)at;
        _lastCapNext = at + 1;
        _nextCap = (at + 2 + body.Length + 3) & ~3;
        _bytes[0x06] |= 0x10;
        return this;
    }

    /// <summary>Appends an extended capability (body = bytes after the 32-bit header) and links it.</summary>
    internal ConfigSpaceBuilder ExtendedCapability(ushort id, int version, params byte[] body)
    {
        int at = _nextExt;
        U32(at, id | ((uint)version << 16));
        body.CopyTo(_bytes, at + 4);
        if (_lastExt >= 0)
        {
            U32(_lastExt, BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(_lastExt)) | ((uint)at << 20));
        }

        _lastExt = at;
        _nextExt = (at + 4 + body.Length + 3) & ~3;
        return this;
    }

    internal byte[] Build() => (byte[])_bytes.Clone();

    internal static byte[] Le16(ushort v) => [(byte)v, (byte)(v >> 8)];

    internal static byte[] Le32(uint v) => [(byte)v, (byte)(v >> 8), (byte)(v >> 16), (byte)(v >> 24)];

    internal static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}
