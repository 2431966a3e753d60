using System.Buffers.Binary;
using System.Numerics;

namespace PciKit.VfioUser.Protocol;

/// <summary>
/// DEVICE_SET_IRQS request: argsz, flags, index, start, count (u32 each) and, with DATA_BOOL, count bool bytes.
/// <see cref="BoolData"/> is a slice of the parsed payload.
/// </summary>
internal readonly ref struct SetIrqsRequest
{
    /// <summary>Fixed part size.</summary>
    public const int FixedSize = 20;
    /// <summary>No data: act on [start, start+count).</summary>
    public const uint DataNone = 1;
    /// <summary>One bool byte per vector.</summary>
    public const uint DataBool = 2;
    /// <summary>One eventfd per vector (in the message's fds).</summary>
    public const uint DataEventFd = 4;
    /// <summary>Mask.</summary>
    public const uint ActionMask = 8;
    /// <summary>Unmask.</summary>
    public const uint ActionUnmask = 16;
    /// <summary>Trigger / attach eventfds.</summary>
    public const uint ActionTrigger = 32;
    private const uint DataBits = DataNone | DataBool | DataEventFd;
    private const uint ActionBits = ActionMask | ActionUnmask | ActionTrigger;

    private SetIrqsRequest(uint argSz, uint flags, uint index, uint start, uint count, ReadOnlySpan<byte> boolData)
    {
        ArgSz = argSz;
        Flags = flags;
        Index = index;
        Start = start;
        Count = count;
        BoolData = boolData;
    }

    /// <summary>argsz.</summary>
    public uint ArgSz { get; }
    /// <summary>Raw flags (one data bit and one action bit).</summary>
    public uint Flags { get; }
    /// <summary>IRQ index.</summary>
    public uint Index { get; }
    /// <summary>First vector.</summary>
    public uint Start { get; }
    /// <summary>Number of vectors.</summary>
    public uint Count { get; }
    /// <summary>Bool bytes (DATA_BOOL only; empty otherwise).</summary>
    public ReadOnlySpan<byte> BoolData { get; }
    /// <summary>The data-type bit.</summary>
    public uint DataType => Flags & DataBits;
    /// <summary>The action bit.</summary>
    public uint Action => Flags & ActionBits;

    /// <summary>
    /// Parses; EINVAL on truncation, argsz smaller than the message, unknown flags, not exactly one data type and
    /// one action, start+count overflow, a bool array whose length is not count, or trailing data without DATA_BOOL.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> payload, out SetIrqsRequest value, out VfioUserError error)
    {
        value = default;
        if (payload.Length < FixedSize)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DEVICE_SET_IRQS shorter than 20 bytes");
        }

        uint argsz = BinaryPrimitives.ReadUInt32LittleEndian(payload);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]);
        uint index = BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]);
        uint start = BinaryPrimitives.ReadUInt32LittleEndian(payload[12..]);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(payload[16..]);
        ReadOnlySpan<byte> data = payload[FixedSize..];

        if (argsz < (uint)payload.Length)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DEVICE_SET_IRQS argsz smaller than the message");
        }

        if ((flags & ~(DataBits | ActionBits)) != 0)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DEVICE_SET_IRQS unknown flags");
        }

        if (BitOperations.PopCount(flags & DataBits) != 1 || BitOperations.PopCount(flags & ActionBits) != 1)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DEVICE_SET_IRQS needs exactly one data type and one action");
        }

        if (start > uint.MaxValue - count)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DEVICE_SET_IRQS start + count overflows");
        }

        if ((flags & DataBool) != 0)
        {
            if ((ulong)data.Length != count)
            {
                return Wire.Fail(out error, LinuxErrno.EINVAL, "DEVICE_SET_IRQS bool array length is not count");
            }
        }
        else if (data.Length != 0)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DEVICE_SET_IRQS carries data without DATA_BOOL");
        }

        value = new SetIrqsRequest(argsz, flags, index, start, count, (flags & DataBool) != 0 ? data : default);
        return Wire.Ok(out error);
    }

    /// <summary>Writes a request (fixed part plus <paramref name="boolData"/>); argsz is the total size. Returns bytes written.</summary>
    public static int Write(Span<byte> destination, uint flags, uint index, uint start, uint count, ReadOnlySpan<byte> boolData)
    {
        int size = FixedSize + boolData.Length;
        Wire.EnsureRoom(destination, size);
        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)size);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], index);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], start);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[16..], count);
        boolData.CopyTo(destination[FixedSize..]);
        return size;
    }
}
