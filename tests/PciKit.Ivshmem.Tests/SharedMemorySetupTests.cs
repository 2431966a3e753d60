using PciKit.Linux;

namespace PciKit.Ivshmem.Tests;

/// <summary>Sizes (QEMU's -l syntax), power-of-two rounding, POSIX shm vs. unlinked files, hugetlbfs growth.</summary>
public sealed class SharedMemorySetupTests : IDisposable
{
    private readonly Scratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Theory]
    [InlineData("4M", 4UL << 20)]
    [InlineData("4m", 4UL << 20)]
    [InlineData("1K", 1024UL)]
    [InlineData("2G", 2UL << 30)]
    [InlineData("1T", 1UL << 40)]
    [InlineData("512KB", 512UL << 10)]
    [InlineData("65536", 65536UL)]
    [InlineData("0x100000", 1UL << 20)]
    [InlineData(" 3M ", 3UL << 20)]
    public void Sizes_take_bytes_with_K_M_G_T_suffixes(string text, ulong bytes) => Assert.Equal(bytes, IvshmemSize.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("M")]
    [InlineData("4X")]
    [InlineData("-4M")]
    [InlineData("1.5M")]
    [InlineData("4 M")]
    public void Malformed_sizes_are_rejected_with_the_accepted_forms(string text)
    {
        var e = Assert.Throws<FormatException>(() => IvshmemSize.Parse(text));
        Assert.Contains("K, M, G or T suffix", e.Message);
    }

    [Theory]
    [InlineData("0", "must not be zero")]
    [InlineData("2T", "larger than the largest")]
    [InlineData("99999999999999999999", "is not a size")]
    public void Zero_and_too_large_sizes_are_rejected(string text, string message)
    {
        var e = Assert.Throws<FormatException>(() => IvshmemSize.Parse(text));
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData(1UL, 1UL)]
    [InlineData(4096UL, 4096UL)]
    [InlineData(3UL << 20, 4UL << 20)]
    [InlineData((1UL << 30) + 1, 2UL << 30)]
    public void Sizes_round_up_to_a_power_of_two(ulong size, ulong rounded) => Assert.Equal(rounded, IvshmemSize.RoundUp(size));

    [Fact]
    public void Posix_shm_is_created_rounded_and_unlinked_on_stop()
    {
        var server = IvshmemServer.Start(_scratch.Options(size: 3 << 20));
        Assert.Equal(4UL << 20, server.SharedMemorySize);
        Assert.Equal(4L << 20, new FileInfo(_scratch.ShmPath).Length);
        server.Dispose();
        Assert.False(File.Exists(_scratch.ShmPath));
    }

    [Fact]
    public void An_existing_shm_object_keeps_its_content_when_its_size_already_fits()
    {
        File.WriteAllBytes(_scratch.ShmPath, Enumerable.Range(0, 1 << 16).Select(i => (byte)i).ToArray());
        using var server = IvshmemServer.Start(_scratch.Options(size: 1 << 16));
        using var view = server.MapSharedMemory();
        Assert.Equal(0x03020100u, view.Read<uint>(0));
        Assert.Equal((byte)0xFF, view.Read<byte>(0xFFFF));
    }

    [Fact]
    public void The_server_can_keep_the_shm_name_after_stopping()
    {
        var server = IvshmemServer.Start(_scratch.Options() with { UnlinkSharedMemoryOnStop = false });
        server.Dispose();
        Assert.True(File.Exists(_scratch.ShmPath));
    }

    [Fact]
    public void A_directory_gets_a_file_that_is_unlinked_at_once_and_shared_through_the_descriptor()
    {
        using var server = IvshmemServer.Start(_scratch.Options(size: 100_000) with { HugeTlbDirectory = _scratch.Dir });
        Assert.Equal(1UL << 17, server.SharedMemorySize);
        Assert.Equal([_scratch.Socket], Directory.GetFiles(_scratch.Dir)); // the memory file is already unlinked
        Assert.False(File.Exists(_scratch.ShmPath)); // -m does not touch /dev/shm
        using var peer = IvshmemPeer.Connect(_scratch.Socket);
        Assert.Equal(1UL << 17, peer.SharedMemorySize);
        peer.SharedMemory.Write(8, 42L);
        using var view = server.MapSharedMemory();
        Assert.Equal(42L, view.Read<long>(8));
    }

    [Fact]
    public void A_missing_directory_is_refused_before_anything_is_created()
    {
        var e = Assert.Throws<ArgumentException>(() => IvshmemServer.Start(_scratch.Options() with { HugeTlbDirectory = "/nonexistent/hugepages" }));
        Assert.Contains("hugetlbfs mount", e.Message);
        Assert.False(File.Exists(_scratch.Socket));
    }

    [Fact]
    public void Hugetlbfs_refusals_double_the_size_until_one_is_accepted()
    {
        // hugetlbfs refuses sizes that are not a multiple of its page size (EINVAL), like a 1 GiB-page mount does for 4 MiB.
        var tried = new List<ulong>();
        ulong size = SharedMemorySetup.Grow(3 << 20, 0, s =>
        {
            tried.Add(s);
            return s % (32UL << 20) == 0 ? null : new LinuxException(22, "ftruncate");
        }, "/dev/hugepages");
        Assert.Equal(32UL << 20, size);
        Assert.Equal([4UL << 20, 8UL << 20, 16UL << 20, 32UL << 20], tried);
    }

    [Fact]
    public void When_no_size_up_to_1_GiB_is_accepted_the_error_says_what_was_tried()
    {
        var e = Assert.Throws<IvshmemException>(() => SharedMemorySetup.Grow(4 << 20, 0, _ => new LinuxException(22, "ftruncate"), "/dev/hugepages"));
        Assert.Contains("every power of two from 4 MiB to 1 GiB", e.Message);
        Assert.Contains("EINVAL", e.Message);
        Assert.Contains("nr_hugepages", e.Message);
    }

    [Fact]
    public void A_file_that_already_has_the_size_is_not_truncated()
    {
        ulong size = SharedMemorySetup.Grow(4 << 20, 4 << 20, _ => throw new InvalidOperationException("must not truncate"), "x");
        Assert.Equal(4UL << 20, size);
    }

    [Fact]
    public void Options_are_validated_with_messages()
    {
        var tooMany = Assert.Throws<ArgumentOutOfRangeException>(() => IvshmemServer.Start(_scratch.Options(vectors: 65)));
        Assert.Contains("max is 64", tooMany.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => IvshmemServer.Start(_scratch.Options(vectors: -1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => IvshmemServer.Start(_scratch.Options(size: 0)));
        Assert.False(File.Exists(_scratch.ShmPath));
    }

    [Fact]
    public void A_second_server_on_the_same_socket_is_refused_without_touching_the_first_ones_memory()
    {
        using var first = IvshmemServer.Start(_scratch.Options(size: 1 << 20));
        using (var view = first.MapSharedMemory()) view.Write(0, 0x5A5AUL);
        // Same socket and same shm name, another size (QEMU's server would truncate and then unlink the object).
        var e = Assert.Throws<SocketPathInUseException>(() => IvshmemServer.Start(_scratch.Options(size: 8 << 20)));
        Assert.Equal(SocketPathState.ServerRunning, e.State);
        Assert.Equal(1L << 20, new FileInfo(_scratch.ShmPath).Length);
        // (Start's check that the path is in use connected once: the running server counted that as a peer that left.)
        using var peer = IvshmemPeer.Connect(_scratch.Socket);
        Wait.Until(() => first.PeerIds.SequenceEqual([peer.Id]), "the server lists the peer"); // listed just after its setup is sent
        Assert.Equal(0x5A5AUL, peer.SharedMemory.Read<ulong>(0));
    }
}
