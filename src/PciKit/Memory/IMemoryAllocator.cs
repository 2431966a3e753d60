namespace PciKit.Memory;

/// <summary>
/// Where a device model gets the RAM behind its BARs. The default is process memory; a transport that lets peers map
/// BARs (vfio-user, a user client) supplies shareable memory (memfd) instead, without the model knowing the OS.
/// </summary>
public interface IMemoryAllocator
{
    /// <summary>Allocates <paramref name="length"/> zeroed bytes; <paramref name="name"/> is for diagnostics (e.g. the memfd name).</summary>
    MemoryBlock Allocate(string name, ulong length);
}

/// <summary>Process memory (<see cref="NativeMemoryBlock"/>): fast, not shareable with other processes.</summary>
public sealed class HeapMemoryAllocator : IMemoryAllocator
{
    /// <summary>The allocator.</summary>
    public static HeapMemoryAllocator Instance { get; } = new();

    /// <inheritdoc />
    public MemoryBlock Allocate(string name, ulong length) => new NativeMemoryBlock(length);
}
