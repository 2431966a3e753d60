using PciKit.Memory;

namespace PciKit.Linux.Memory;

/// <summary>Allocates device RAM as memfd-backed shared memory (<see cref="MappedMemoryBlock"/>), so peers can map it.</summary>
public sealed class SharedMemoryAllocator : IMemoryAllocator
{
    /// <summary>The allocator.</summary>
    public static SharedMemoryAllocator Instance { get; } = new();

    /// <inheritdoc />
    public MemoryBlock Allocate(string name, ulong length) => MappedMemoryBlock.CreateShared(name, length);
}
