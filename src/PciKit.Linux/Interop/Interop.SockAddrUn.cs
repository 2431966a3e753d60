using System.Text;

namespace PciKit.Linux.Interop;

/// <summary><c>struct sockaddr_un</c>: a 16-bit family followed by a 108-byte NUL-terminated path.</summary>
internal static class SockAddrUn
{
    internal const int Size = 110;
    internal const int PathOffset = 2;
    internal const int MaxPathBytes = 107;

    /// <summary>Fills <paramref name="address"/> (≥ <see cref="Size"/> bytes) and returns the address length.</summary>
    internal static uint Write(string path, Span<byte> address)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (path.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("A socket path must not contain NUL characters.", nameof(path));
        }

        int byteCount = Encoding.UTF8.GetByteCount(path);
        if (byteCount > MaxPathBytes)
        {
            throw new ArgumentException(
                $"Socket path is {byteCount} bytes; sockaddr_un holds at most {MaxPathBytes}. Use a shorter path.", nameof(path));
        }

        address[..Size].Clear();
        System.Runtime.InteropServices.MemoryMarshal.Write(address, (ushort)Libc.AF_UNIX); // sa_family_t, host order
        Encoding.UTF8.GetBytes(path, address[PathOffset..]);
        return (uint)(PathOffset + byteCount + 1);
    }
}
