using System.Globalization;
using System.Numerics;

namespace PciKit.Ivshmem;

/// <summary>
/// Shared-memory sizes as QEMU's ivshmem-server takes them: a number of bytes with an optional suffix
/// (<c>K</c>, <c>M</c>, <c>G</c>, <c>T</c>; powers of 1024, case-insensitive, optional trailing <c>B</c>; hexadecimal with
/// <c>0x</c>), rounded up to a power of two because the memory becomes a PCI BAR.
/// </summary>
public static class IvshmemSize
{
    /// <summary>The default size, 4 MiB (QEMU's).</summary>
    public const ulong Default = 4UL << 20;

    /// <summary>The largest size accepted, 1 TiB.</summary>
    public const ulong Max = 1UL << 40;

    /// <summary>Parses <paramref name="text"/> (e.g. <c>4M</c>, <c>1G</c>, <c>65536</c>, <c>0x100000</c>).</summary>
    /// <param name="text">The size.</param>
    /// <returns>The size in bytes, not yet rounded.</returns>
    /// <exception cref="FormatException">Not a size; the message says which forms are accepted.</exception>
    public static ulong Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!TryParse(text, out ulong bytes, out string? error))
        {
            throw new FormatException(error);
        }

        return bytes;
    }

    /// <summary>Parses like <see cref="Parse"/>, returning a message instead of throwing.</summary>
    /// <param name="text">The size.</param>
    /// <param name="bytes">The size in bytes.</param>
    /// <param name="error">Why it is not a size.</param>
    /// <returns><see langword="false"/> when <paramref name="text"/> is not a valid size.</returns>
    public static bool TryParse(string text, out ulong bytes, out string? error)
    {
        bytes = 0;
        error = null;
        string s = (text ?? "").Trim();
        if (s.EndsWith('B') || s.EndsWith('b'))
        {
            s = s[..^1];
        }

        int shift = 0;
        if (s.Length > 0)
        {
            shift = char.ToUpperInvariant(s[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
            if (shift != 0)
            {
                s = s[..^1];
            }
        }

        bool hex = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        bool parsed = hex
            ? ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong value)
            : ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value);
        if (!parsed)
        {
            error = $"'{text}' is not a size; give bytes with an optional K, M, G or T suffix (powers of 1024), e.g. 4M or 1G.";
            return false;
        }

        if (value == 0)
        {
            error = "The shared memory size must not be zero.";
            return false;
        }

        if (value > (Max >> shift))
        {
            error = $"'{text}' is larger than the largest shared memory this server offers ({Format(Max)}).";
            return false;
        }

        bytes = value << shift;
        return true;
    }

    /// <summary>The next power of two at or above <paramref name="size"/> (the size of the BAR a guest sees).</summary>
    /// <param name="size">1 … <see cref="Max"/>.</param>
    /// <returns>The rounded size.</returns>
    public static ulong RoundUp(ulong size)
    {
        ArgumentOutOfRangeException.ThrowIfZero(size);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, Max);
        return BitOperations.RoundUpToPowerOf2(size);
    }

    /// <summary>A size as the largest whole unit, e.g. <c>4 MiB</c>, or bytes.</summary>
    /// <param name="size">The size.</param>
    /// <returns>The text.</returns>
    public static string Format(ulong size)
    {
        foreach (var (shift, unit) in new[] { (40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB") })
        {
            if (size >= (1UL << shift) && size % (1UL << shift) == 0)
            {
                return string.Create(CultureInfo.InvariantCulture, $"{size >> shift} {unit}");
            }
        }

        return string.Create(CultureInfo.InvariantCulture, $"{size} bytes");
    }
}
