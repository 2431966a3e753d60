namespace PciKit.VfioUser.Protocol;

/// <summary>Linux errno values used on the vfio-user wire.</summary>
internal static class LinuxErrno
{
    /// <summary>No such file or directory.</summary>
    public const int ENOENT = 2;
    /// <summary>Argument list too long.</summary>
    public const int E2BIG = 7;
    /// <summary>Bad address.</summary>
    public const int EFAULT = 14;
    /// <summary>Already exists.</summary>
    public const int EEXIST = 17;
    /// <summary>Invalid argument.</summary>
    public const int EINVAL = 22;
    /// <summary>No space left.</summary>
    public const int ENOSPC = 28;
    /// <summary>Operation not supported.</summary>
    public const int ENOTSUP = 95;
}

/// <summary>Why a message could not be parsed: the errno to put in the error reply, and a message for logs.</summary>
/// <param name="Errno">Linux errno (see <see cref="LinuxErrno"/>); 0 means no error.</param>
/// <param name="Message">Human-readable reason; a constant string, so failing allocates nothing.</param>
internal readonly record struct VfioUserError(int Errno, string Message)
{
    /// <summary>No error.</summary>
    public static VfioUserError None => new(0, "");

    /// <summary>Whether this represents an error.</summary>
    public bool IsError => Errno != 0;

    /// <inheritdoc/>
    public override string ToString() => $"errno {Errno}: {Message}";
}

/// <summary>Helpers shared by the codecs.</summary>
internal static class Wire
{
    /// <summary>Sets <paramref name="error"/> and returns false, so a parser can <c>return Wire.Fail(...)</c>.</summary>
    public static bool Fail(out VfioUserError error, int errno, string message)
    {
        error = new VfioUserError(errno, message);
        return false;
    }

    /// <summary>Sets <paramref name="error"/> to none and returns true.</summary>
    public static bool Ok(out VfioUserError error)
    {
        error = VfioUserError.None;
        return true;
    }

    /// <summary>Throws if <paramref name="destination"/> cannot hold <paramref name="needed"/> bytes (caller misuse).</summary>
    public static void EnsureRoom(Span<byte> destination, int needed)
    {
        if (destination.Length < needed)
        {
            throw new ArgumentException(
                $"Destination holds {destination.Length} bytes but the message needs {needed}; pass a larger buffer.",
                nameof(destination));
        }
    }
}
