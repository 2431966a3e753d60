using PciKit.Config;

namespace PciKit.Tests.Config;

/// <summary>The one write rule of a configuration space: c = (c &amp; ~w) | (v &amp; w); c &amp;= ~(v &amp; w1c).</summary>
public class ConfigSpaceTests
{
    private sealed class Observer : IConfigWriteObserver
    {
        public List<(int Offset, int Size, uint Value)> Calls { get; } = [];
        public void OnConfigWrite(int offset, int size, uint value) => Calls.Add((offset, size, value));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(255)]
    [InlineData(1024)]
    public void Only_256_and_4096_byte_spaces_exist(int size) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConfigSpace(size));

    [Fact]
    public void Bits_outside_the_write_mask_keep_their_value()
    {
        var cfg = new ConfigSpace(256);
        cfg.Set16(0x40, 0xA5A5);
        cfg.SetWriteMask(0x40, 2, 0x0FF0);

        cfg.Write(0x40, 2, 0x1234);

        Assert.Equal(0xA235u, cfg.Read(0x40, 2)); // nibbles 1-2 from the write, 0 and 3 kept
    }

    [Fact]
    public void A_read_only_register_ignores_writes()
    {
        var cfg = new ConfigSpace(256);
        cfg.Set32(0x44, 0xDEADBEEF);

        Assert.True(cfg.Write(0x44, 4, 0));
        Assert.Equal(0xDEADBEEFu, cfg.Read(0x44, 4));
    }

    [Fact]
    public void Write_one_to_clear_bits_clear_on_one_and_keep_on_zero()
    {
        var cfg = new ConfigSpace(256);
        cfg.Set16(0x40, 0xF00F);
        cfg.SetWriteOneToClearMask(0x40, 2, 0xF000);

        cfg.Write(0x40, 2, 0x5000); // clear bits 12 and 14 only
        Assert.Equal(0xA00Fu, cfg.Read(0x40, 2));

        cfg.Write(0x40, 2, 0x000F); // ones outside the W1C mask do not clear read-only bits
        Assert.Equal(0xA00Fu, cfg.Read(0x40, 2));

        cfg.Write(0x40, 2, 0x0000);
        Assert.Equal(0xA00Fu, cfg.Read(0x40, 2));
    }

    [Fact]
    public void Masks_apply_per_byte_for_every_access_width()
    {
        var cfg = new ConfigSpace(256);
        cfg.SetWriteMask(0x50, 4, 0xFF00_FF00); // bytes 1 and 3 writable

        cfg.Write(0x50, 4, 0x1122_3344);
        Assert.Equal(0x1100_3300u, cfg.Read(0x50, 4));

        cfg.Write(0x51, 1, 0xAB);
        cfg.Write(0x52, 2, 0xCDEF); // byte 2 read-only, byte 3 writable
        Assert.Equal(0xCD00_AB00u, cfg.Read(0x50, 4));
        Assert.Equal(0xABu, cfg.Read(0x51, 1));
        Assert.Equal(0xCD00u, cfg.Read(0x52, 2));
    }

    [Fact]
    public void Reads_and_writes_are_little_endian()
    {
        var cfg = new ConfigSpace(256);
        cfg.Set32(0x60, 0x0403_0201);

        Assert.Equal(0x01u, cfg.Read(0x60, 1));
        Assert.Equal(0x0302u, cfg.Read(0x61, 2));
        Assert.Equal(0x04u, cfg.Read(0x63, 1));
    }

    [Theory]
    [InlineData(256, 1, 0xFFu)]
    [InlineData(255, 2, 0xFFFFu)]
    [InlineData(253, 4, 0xFFFF_FFFFu)]
    [InlineData(-1, 1, 0xFFu)]
    [InlineData(0, 3, 0xFF_FFFFu)]
    [InlineData(0, 8, 0xFFFF_FFFFu)]
    [InlineData(0, 0, 0xFFFF_FFFFu)]
    public void Invalid_reads_return_all_ones(int offset, int size, uint expected)
    {
        var cfg = new ConfigSpace(256);
        Assert.False(cfg.IsValidAccess(offset, size));
        Assert.Equal(expected, cfg.Read(offset, size));
    }

    [Theory]
    [InlineData(254, 4)]
    [InlineData(256, 1)]
    [InlineData(-2, 2)]
    [InlineData(0x40, 3)]
    [InlineData(0x40, 8)]
    public void Invalid_writes_are_dropped_without_side_effects(int offset, int size)
    {
        var cfg = new ConfigSpace(256);
        for (int at = 0; at < 256; at += 8) cfg.SetWriteMask(at, 8, ulong.MaxValue);
        var observer = new Observer();
        cfg.Observe(0, 256, observer);
        var before = cfg.Bytes.ToArray();

        Assert.False(cfg.Write(offset, size, 0xFFFF_FFFF));

        Assert.Equal(before, cfg.Bytes.ToArray());
        Assert.Empty(observer.Calls);
    }

    [Fact]
    public void Extended_space_accepts_accesses_up_to_4_KiB()
    {
        var cfg = new ConfigSpace(4096);
        cfg.SetWriteMask(0xFFC, 4, 0xFFFF_FFFF);

        Assert.True(cfg.IsExtended);
        Assert.True(cfg.Write(0xFFC, 4, 0x1234_5678));
        Assert.Equal(0x1234_5678u, cfg.Read(0xFFC, 4));
        Assert.Equal(0xFFFF_FFFFu, cfg.Read(0x1000, 4));
    }

    [Fact]
    public void Observers_see_only_writes_touching_their_range_with_the_unmasked_value()
    {
        var cfg = new ConfigSpace(256);
        var observer = new Observer();
        cfg.Observe(0x48, 4, observer);

        cfg.Write(0x44, 4, 1);          // just before
        cfg.Write(0x4C, 1, 2);          // just after
        cfg.Write(0x46, 4, 0xAABBCCDD); // overlaps the first two bytes
        cfg.Write(0x4B, 1, 0x7F);       // last byte

        Assert.Equal([(0x46, 4, 0xAABBCCDDu), (0x4B, 1, 0x7Fu)], observer.Calls);
        Assert.Equal(0u, cfg.Read(0x48, 4)); // read-only: the observer saw the value, the space kept 0
    }

    [Fact]
    public void Device_internal_setters_bypass_the_masks()
    {
        var cfg = new ConfigSpace(256);
        cfg.SetWriteOneToClearMask(0x40, 2, 0xFFFF);
        cfg.Set16(0x40, 0x8001);
        cfg.SetBits16(0x40, 0x0100);
        cfg.ClearBits16(0x40, 0x0001);

        Assert.Equal(0x8100, cfg.Get16(0x40));
        Assert.Throws<ArgumentOutOfRangeException>(() => cfg.Set32(254, 0));
    }

    [Fact]
    public void Restoring_the_power_on_state_undoes_every_change()
    {
        var cfg = new ConfigSpace(256);
        cfg.Set16(0x00, 0x1234);
        cfg.SetWriteMask(0x04, 2, 0xFFFF);
        cfg.CapturePowerOnState();
        var powerOn = cfg.Bytes.ToArray();

        cfg.Write(0x04, 2, 0x0107);
        cfg.Set8(0x80, 0x42);
        cfg.RestorePowerOnState();

        Assert.Equal(powerOn, cfg.Bytes.ToArray());
        Assert.Equal(0xFFFFul, cfg.GetWriteMask(0x04, 2)); // the masks survive a reset
    }

    [Fact]
    public void Masks_cannot_change_once_the_power_on_state_is_captured()
    {
        var cfg = new ConfigSpace(256);
        Assert.Throws<InvalidOperationException>(cfg.RestorePowerOnState);
        cfg.CapturePowerOnState();

        Assert.True(cfg.IsSealed);
        Assert.Throws<InvalidOperationException>(() => cfg.SetWriteMask(0x04, 2, 0xFFFF));
        Assert.Throws<InvalidOperationException>(() => cfg.SetWriteOneToClearMask(0x06, 2, 0xFFFF));
    }
}
