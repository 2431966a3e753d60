using System.Runtime.InteropServices;

namespace PciKit.Memory;

/// <summary>
/// Memory backed by a file (memfd, POSIX shared memory, hugetlbfs) that another process can map: a transport hands
/// <see cref="FileHandle"/> to its peer (vfio-user region mmap, an ivshmem peer, a user client), which maps
/// <see cref="FileOffset"/> onward. Implemented by OS-specific memory blocks.
/// </summary>
public interface IShareableMemory
{
    /// <summary>The file descriptor (or handle); owned by the memory block, not by the caller.</summary>
    SafeHandle FileHandle { get; }

    /// <summary>Offset of the block's first byte within the file.</summary>
    ulong FileOffset { get; }
}
