using System.Buffers.Binary;

namespace PciKit.Ivshmem;

/// <summary>
/// The ivshmem server protocol (QEMU <c>docs/specs/ivshmem-spec.rst</c>): every message is one little-endian int64 sent
/// from the server to a peer, optionally with one descriptor (SCM_RIGHTS) attached to its first byte.
/// </summary>
internal static class IvshmemWire
{
    /// <summary>Bytes per message.</summary>
    internal const int MessageSize = 8;

    /// <summary>The only protocol version; the first message of every connection.</summary>
    internal const long ProtocolVersion = 0;

    /// <summary>The value that carries the shared-memory descriptor.</summary>
    internal const long SharedMemory = -1;

    /// <summary>The largest peer id (ids are 0 … 65535).</summary>
    internal const int MaxPeerId = 65535;

    /// <summary>The most vectors (eventfds) per peer QEMU's server offers.</summary>
    internal const int MaxVectors = 64;

    internal static void Write(Span<byte> destination, long value) => BinaryPrimitives.WriteInt64LittleEndian(destination, value);

    internal static long Read(ReadOnlySpan<byte> source) => BinaryPrimitives.ReadInt64LittleEndian(source);
}
