using PciKit.Linux.Memory;
using PciKit.Memory;

namespace PciKit.Linux.Tests;

public sealed class MappedMemoryBlockTests
{
    [Fact]
    public void A_shared_block_is_visible_through_a_second_mapping_of_its_fd()
    {
        using var block = MappedMemoryBlock.CreateShared("pcikit-test", 8192);
        Assert.True(block.IsShareable);
        block.Write<uint>(4096, 0xfeedf00d);
        using var other = MemoryMapping.Map(block.Fd!, 0, 8192, MappingAccess.ReadWrite);
        Assert.Equal(0xfeedf00du, other.Read<uint>(4096));
        other.Write<ulong>(16, 0x1122334455667788);
        Assert.Equal(0x1122334455667788UL, block.Read<ulong>(16));
        Assert.Equal(0UL, ((IShareableMemory)block).FileOffset);
    }

    [Fact]
    public void Disposing_unmaps_and_closes_and_accessors_throw()
    {
        var block = MappedMemoryBlock.CreateShared("pcikit-test", 4096);
        var fd = block.Fd!;
        block.Dispose();
        Assert.True(fd.IsClosed);
        Assert.True(block.Mapping.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => block.Read<byte>(0));
        Assert.Throws<ObjectDisposedException>(() => block.GetSpan(0, 1));
    }

    [Fact]
    public void A_block_mapped_without_keeping_its_fd_is_not_shareable()
    {
        using var fd = SharedMemory.CreateMemFd("pcikit-test", 4096);
        using var block = MappedMemoryBlock.Map(fd, 0, 4096, MappingAccess.ReadOnly, keepFd: false);
        Assert.False(block.IsShareable);
        Assert.Throws<InvalidOperationException>(() => ((IShareableMemory)block).FileHandle);
        Assert.False(fd.IsClosed);
    }

    [Fact]
    public void Bounds_are_checked()
    {
        using var block = MappedMemoryBlock.CreateShared("pcikit-test", 4096);
        Assert.Throws<ArgumentOutOfRangeException>(() => block.Read<uint>(4094));
        Assert.Throws<ArgumentOutOfRangeException>(() => block.GetSpan(ulong.MaxValue, 2));
    }
}
