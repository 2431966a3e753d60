using System.Buffers.Binary;

namespace PciKit.VfioUser.Protocol;

/// <summary>DEVICE_RESET: empty request and reply.</summary>
internal static class DeviceResetRequest
{
    /// <summary>Parses; EINVAL if the payload is not empty.</summary>
    public static bool TryParse(ReadOnlySpan<byte> payload, out VfioUserError error)
        => payload.IsEmpty ? Wire.Ok(out error) : Wire.Fail(out error, LinuxErrno.EINVAL, "DEVICE_RESET carries a payload");
}

/// <summary>DEVICE_FEATURE request: argsz u32, flags u32 (feature in bits 0–15; GET, SET, PROBE), data.</summary>
internal readonly ref struct DeviceFeatureRequest
{
    /// <summary>Fixed part size.</summary>
    public const int FixedSize = 8;
    /// <summary>Mask of the feature index.</summary>
    public const uint FeatureMask = 0xFFFF;
    /// <summary>Get the feature's data.</summary>
    public const uint FlagGet = 1u << 16;
    /// <summary>Set the feature's data.</summary>
    public const uint FlagSet = 1u << 17;
    /// <summary>Ask whether the feature is supported.</summary>
    public const uint FlagProbe = 1u << 18;

    private DeviceFeatureRequest(uint argSz, uint flags, ReadOnlySpan<byte> data)
    {
        ArgSz = argSz;
        Flags = flags;
        Data = data;
    }

    /// <summary>argsz.</summary>
    public uint ArgSz { get; }
    /// <summary>Raw flags.</summary>
    public uint Flags { get; }
    /// <summary>Feature index.</summary>
    public ushort Feature => (ushort)(Flags & FeatureMask);
    /// <summary>Data after the fixed part.</summary>
    public ReadOnlySpan<byte> Data { get; }

    /// <summary>
    /// Parses; EINVAL on truncation, argsz &lt; 8, unknown flag bits, no operation, or GET with SET without PROBE.
    /// A server without features then answers ENOTSUP.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> payload, out DeviceFeatureRequest value, out VfioUserError error)
    {
        value = default;
        if (payload.Length < FixedSize)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DEVICE_FEATURE shorter than 8 bytes");
        }

        uint argsz = BinaryPrimitives.ReadUInt32LittleEndian(payload);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]);
        if (argsz < FixedSize)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DEVICE_FEATURE argsz smaller than 8");
        }

        uint ops = flags & (FlagGet | FlagSet | FlagProbe);
        if ((flags & ~(FeatureMask | FlagGet | FlagSet | FlagProbe)) != 0)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DEVICE_FEATURE unknown flags");
        }

        if (ops == 0 || ops == (FlagGet | FlagSet))
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "DEVICE_FEATURE needs an operation; GET with SET only when probing");
        }

        value = new DeviceFeatureRequest(argsz, flags, payload[FixedSize..]);
        return Wire.Ok(out error);
    }
}
