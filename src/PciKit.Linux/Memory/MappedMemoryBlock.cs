using System.Runtime.InteropServices;
using PciKit.Memory;

namespace PciKit.Linux.Memory;

/// <summary>
/// A core <see cref="MemoryBlock"/> over a <see cref="MemoryMapping"/> (another process's memory received as an fd,
/// or a shared-memory object this process created). Disposing the block unmaps the mapping and, when it owns one,
/// closes the file descriptor. When it keeps its descriptor, the block is <see cref="IShareableMemory"/>.
/// </summary>
public sealed unsafe class MappedMemoryBlock : MemoryBlock, IShareableMemory
{
    private readonly MemoryMapping _mapping;
    private readonly SafeFd? _fd;

    private MappedMemoryBlock(MemoryMapping mapping, SafeFd? fd, ulong fileOffset)
        : base(mapping.Pointer, mapping.Length)
    {
        _mapping = mapping;
        _fd = fd;
        FileOffset = fileOffset;
    }

    /// <summary>Maps [<paramref name="offset"/>, +<paramref name="length"/>) of <paramref name="fd"/>; keeps <paramref name="fd"/> (and disposes it) when <paramref name="keepFd"/>.</summary>
    public static MappedMemoryBlock Map(SafeFd fd, ulong offset, ulong length, MappingAccess access, bool keepFd)
    {
        ArgumentNullException.ThrowIfNull(fd);
        var mapping = MemoryMapping.Map(fd, offset, length, access);
        return new MappedMemoryBlock(mapping, keepFd ? fd : null, offset);
    }

    /// <summary>Creates a new zero-filled memfd of <paramref name="length"/> bytes, mapped read-write and shareable.</summary>
    public static MappedMemoryBlock CreateShared(string name, ulong length, MemFdOptions options = MemFdOptions.None)
    {
        var fd = SharedMemory.CreateMemFd(name, length, options);
        try
        {
            return Map(fd, 0, length, MappingAccess.ReadWrite, keepFd: true);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>The mapping.</summary>
    public MemoryMapping Mapping => _mapping;

    /// <summary>True when the block keeps a descriptor another process can map.</summary>
    public bool IsShareable => _fd is not null;

    /// <inheritdoc />
    public SafeHandle FileHandle => _fd ?? throw new InvalidOperationException("This mapping was made without keeping its file descriptor; it cannot be shared.");

    /// <summary>The descriptor, when kept.</summary>
    public SafeFd? Fd => _fd;

    /// <inheritdoc />
    public ulong FileOffset { get; }

    /// <inheritdoc />
    protected override void Release(byte* pointer, ulong length)
    {
        _mapping.Dispose();
        _fd?.Dispose();
    }
}
