using System.Buffers.Binary;
using PciKit.QemuProxy.Protocol;

namespace PciKit.QemuProxy.Tests;

/// <summary>Pins every offset and size of QEMU 7.2's MPQemuMsg (x86-64) and the codec's refusals.</summary>
public sealed class MpqemuLayoutTests
{
    [Fact]
    public void CommandNumbersAreQemus()
    {
        Assert.Equal(0, (int)MpqemuCommand.SyncSysmem);
        Assert.Equal(1, (int)MpqemuCommand.Ret);
        Assert.Equal(2, (int)MpqemuCommand.PciConfigWrite);
        Assert.Equal(3, (int)MpqemuCommand.PciConfigRead);
        Assert.Equal(4, (int)MpqemuCommand.BarWrite);
        Assert.Equal(5, (int)MpqemuCommand.BarRead);
        Assert.Equal(6, (int)MpqemuCommand.SetIrqfd);
        Assert.Equal(7, (int)MpqemuCommand.DeviceReset);
        Assert.Equal(8, MpqemuMessage.CommandCount);
    }

    [Fact]
    public void HeaderOffsetsAndLimits()
    {
        Assert.Equal(16, MpqemuMessage.HeaderSize);
        Assert.Equal(0, MpqemuMessage.CommandOffset);
        Assert.Equal(8, MpqemuMessage.SizeOffset);
        Assert.Equal(192, MpqemuMessage.MaxDataSize);
        Assert.Equal(8, MpqemuMessage.MaxFds);
    }

    [Fact]
    public void DataLayouts()
    {
        Assert.Equal(8, RetData.Size);
        Assert.Equal(0, RetData.ValueOffset);
        Assert.Equal(24, RetData.MessageSize);

        Assert.Equal(12, PciConfigData.Size);
        Assert.Equal(0, PciConfigData.AddressOffset);
        Assert.Equal(4, PciConfigData.ValueOffset);
        Assert.Equal(8, PciConfigData.LengthOffset);

        Assert.Equal(24, BarAccessData.Size);
        Assert.Equal(0, BarAccessData.AddressOffset);
        Assert.Equal(8, BarAccessData.ValueOffset);
        Assert.Equal(16, BarAccessData.AccessSizeOffset);
        Assert.Equal(20, BarAccessData.MemoryOffset);

        Assert.Equal(192, SyncSysmemData.Size);
        Assert.Equal(8, SyncSysmemData.MaxRegions);
        Assert.Equal(0, SyncSysmemData.GpasOffset);
        Assert.Equal(64, SyncSysmemData.SizesOffset);
        Assert.Equal(128, SyncSysmemData.OffsetsOffset);
    }

    [Fact]
    public void HeaderReadsHandPlacedBytes()
    {
        var bytes = new byte[16];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, 5);
        bytes[4] = 0xAA; // padding: ignored
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), 24);
        Assert.True(MpqemuMessage.TryReadHeader(bytes, out var command, out ulong size, out var error));
        Assert.Equal(MpqemuCommand.BarRead, command);
        Assert.Equal(24ul, size);
        Assert.Equal(MpqemuError.None, error);
    }

    [Fact]
    public void RetMessageBytes()
    {
        var bytes = new byte[32];
        bytes.AsSpan().Fill(0xCC);
        Assert.Equal(24, RetData.WriteMessage(bytes, 0x1122_3344_5566_7788));
        Assert.Equal(1, BinaryPrimitives.ReadInt32LittleEndian(bytes));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4))); // padding zeroed
        Assert.Equal(8ul, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(8)));
        Assert.Equal(0x1122_3344_5566_7788ul, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(16)));
        Assert.Equal(0xCC, bytes[24]); // nothing written past the message
        Assert.True(RetData.TryRead(bytes.AsSpan(16, 8), out ulong v));
        Assert.Equal(0x1122_3344_5566_7788ul, v);
        Assert.False(RetData.TryRead(bytes.AsSpan(16, 7), out _));
    }

    [Fact]
    public void ConfigDataRoundTripsAtFixedOffsets()
    {
        var bytes = FakeQemu.ConfigData(0x10, 0xFFFF_FFFF, 4);
        Assert.True(PciConfigData.TryParse(bytes, out var parsed));
        Assert.Equal(new PciConfigData(0x10, 0xFFFF_FFFF, 4), parsed);
        var written = new byte[12];
        Assert.Equal(12, new PciConfigData(0x3C, 0xAB, -1).Write(written));
        Assert.Equal(0x3Cu, BinaryPrimitives.ReadUInt32LittleEndian(written.AsSpan(0)));
        Assert.Equal(0xABu, BinaryPrimitives.ReadUInt32LittleEndian(written.AsSpan(4)));
        Assert.Equal(-1, BinaryPrimitives.ReadInt32LittleEndian(written.AsSpan(8)));
        Assert.False(PciConfigData.TryParse(bytes.AsSpan(0, 11), out _));
        Assert.False(PciConfigData.TryParse(new byte[13], out _));
    }

    [Fact]
    public void BarAccessDataRoundTripsAtFixedOffsets()
    {
        var bytes = FakeQemu.BarData(0xfebf_f000, 0x0102_0304_0506_0708, 8, memory: true);
        Assert.True(BarAccessData.TryParse(bytes, out var parsed));
        Assert.Equal(new BarAccessData(0xfebf_f000, 0x0102_0304_0506_0708, 8, true), parsed);
        bytes[20] = 0x7F; // C bool: any non-zero is true
        Assert.True(BarAccessData.TryParse(bytes, out parsed));
        Assert.True(parsed.Memory);

        var written = new byte[24];
        written.AsSpan().Fill(0xEE);
        Assert.Equal(24, new BarAccessData(0xc000, 0x5a, 1, false).Write(written));
        Assert.Equal(0xc000ul, BinaryPrimitives.ReadUInt64LittleEndian(written.AsSpan(0)));
        Assert.Equal(0x5aul, BinaryPrimitives.ReadUInt64LittleEndian(written.AsSpan(8)));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(written.AsSpan(16)));
        Assert.Equal(new byte[] { 0, 0, 0, 0 }, written[20..24]); // memory = false and the padding zeroed
        Assert.False(BarAccessData.TryParse(new byte[23], out _));
        Assert.False(BarAccessData.TryParse(new byte[25], out _));
    }

    [Fact]
    public void SyncSysmemArraysAtFixedOffsets()
    {
        var bytes = new byte[192];
        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8 * i), 0x1000_0000ul * (ulong)i);
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(64 + 8 * i), 0x1000ul + (ulong)i);
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(128 + 8 * i), -i);
        }
        var regions = new SysmemRegion[8];
        Assert.True(SyncSysmemData.TryParse(bytes, regions));
        for (int i = 0; i < 8; i++) Assert.Equal(new SysmemRegion(0x1000_0000ul * (ulong)i, 0x1000ul + (ulong)i, -i), regions[i]);

        var written = new byte[192];
        written.AsSpan().Fill(0xEE);
        SyncSysmemData.Write(written, [new SysmemRegion(0xc0000, 0x20000, 0xc0000), new SysmemRegion(0x100000, 0x1ff00000, 0x100000)]);
        Assert.Equal(0xc0000ul, BinaryPrimitives.ReadUInt64LittleEndian(written.AsSpan(0)));
        Assert.Equal(0x100000ul, BinaryPrimitives.ReadUInt64LittleEndian(written.AsSpan(8)));
        Assert.Equal(0x20000ul, BinaryPrimitives.ReadUInt64LittleEndian(written.AsSpan(64)));
        Assert.Equal(0x1ff00000ul, BinaryPrimitives.ReadUInt64LittleEndian(written.AsSpan(72)));
        Assert.Equal(0xc0000L, BinaryPrimitives.ReadInt64LittleEndian(written.AsSpan(128)));
        Assert.Equal(0x100000L, BinaryPrimitives.ReadInt64LittleEndian(written.AsSpan(136)));
        Assert.All(written[16..64], b => Assert.Equal(0, b));

        Assert.False(SyncSysmemData.TryParse(bytes.AsSpan(0, 191), regions));
        Assert.False(SyncSysmemData.TryParse(bytes, new SysmemRegion[9]));
    }

    [Theory]
    [InlineData(193ul, 3, (int)MpqemuError.DataTooLarge)]
    [InlineData(ulong.MaxValue, 3, (int)MpqemuError.DataTooLarge)]
    [InlineData(0ul, 8, (int)MpqemuError.UnknownCommand)]
    [InlineData(12ul, -1, (int)MpqemuError.UnknownCommand)]
    [InlineData(12ul, int.MaxValue, (int)MpqemuError.UnknownCommand)]
    public void HeaderRefusals(ulong size, int command, int expectedError)
    {
        var expected = (MpqemuError)expectedError;
        var bytes = new byte[16];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, command);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), size);
        Assert.False(MpqemuMessage.TryReadHeader(bytes, out _, out ulong read, out var error));
        Assert.Equal(expected, error);
        Assert.Equal(size, read);
    }

    [Fact]
    public void TruncatedHeaderIsRefused()
    {
        Assert.False(MpqemuMessage.TryReadHeader(new byte[15], out _, out _, out var error));
        Assert.Equal(MpqemuError.TruncatedHeader, error);
    }

    [Theory]
    [InlineData((int)MpqemuCommand.SyncSysmem, 192, 1, (int)MpqemuError.None)]
    [InlineData((int)MpqemuCommand.SyncSysmem, 192, 8, (int)MpqemuError.None)]
    [InlineData((int)MpqemuCommand.SyncSysmem, 192, 0, (int)MpqemuError.WrongFdCount)]
    [InlineData((int)MpqemuCommand.SyncSysmem, 192, 9, (int)MpqemuError.WrongFdCount)]
    [InlineData((int)MpqemuCommand.SyncSysmem, 191, 1, (int)MpqemuError.WrongDataSize)]
    [InlineData((int)MpqemuCommand.PciConfigRead, 12, 0, (int)MpqemuError.None)]
    [InlineData((int)MpqemuCommand.PciConfigRead, 8, 0, (int)MpqemuError.WrongDataSize)]
    [InlineData((int)MpqemuCommand.PciConfigWrite, 12, 1, (int)MpqemuError.WrongFdCount)]
    [InlineData((int)MpqemuCommand.BarRead, 24, 0, (int)MpqemuError.None)]
    [InlineData((int)MpqemuCommand.BarWrite, 16, 0, (int)MpqemuError.WrongDataSize)]
    [InlineData((int)MpqemuCommand.BarWrite, 24, 2, (int)MpqemuError.WrongFdCount)]
    [InlineData((int)MpqemuCommand.SetIrqfd, 0, 2, (int)MpqemuError.None)]
    [InlineData((int)MpqemuCommand.SetIrqfd, 0, 1, (int)MpqemuError.WrongFdCount)]
    [InlineData((int)MpqemuCommand.SetIrqfd, 8, 2, (int)MpqemuError.WrongDataSize)]
    [InlineData((int)MpqemuCommand.DeviceReset, 0, 0, (int)MpqemuError.None)]
    [InlineData((int)MpqemuCommand.DeviceReset, 8, 0, (int)MpqemuError.WrongDataSize)]
    [InlineData((int)MpqemuCommand.Ret, 8, 0, (int)MpqemuError.UnexpectedCommand)]
    [InlineData(8, 0, 0, (int)MpqemuError.UnknownCommand)]
    public void PerCommandValidation(int commandNumber, int size, int fds, int expectedError)
    {
        var command = (MpqemuCommand)commandNumber;
        var expected = (MpqemuError)expectedError;
        Assert.Equal(expected == MpqemuError.None, MpqemuMessage.TryValidate(command, size, fds, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void OnlyRequestsExpectReplies()
    {
        Assert.True(MpqemuMessage.ExpectsReply(MpqemuCommand.PciConfigRead));
        Assert.True(MpqemuMessage.ExpectsReply(MpqemuCommand.PciConfigWrite));
        Assert.True(MpqemuMessage.ExpectsReply(MpqemuCommand.BarRead));
        Assert.True(MpqemuMessage.ExpectsReply(MpqemuCommand.BarWrite));
        Assert.True(MpqemuMessage.ExpectsReply(MpqemuCommand.DeviceReset));
        Assert.False(MpqemuMessage.ExpectsReply(MpqemuCommand.SyncSysmem));
        Assert.False(MpqemuMessage.ExpectsReply(MpqemuCommand.SetIrqfd));
        Assert.False(MpqemuMessage.ExpectsReply(MpqemuCommand.Ret));
    }

    [Fact]
    public void RandomInputNeverThrows()
    {
        var random = new Random(7202);
        var buffer = new byte[256];
        var regions = new SysmemRegion[8];
        for (int i = 0; i < 20_000; i++)
        {
            int length = random.Next(buffer.Length + 1);
            random.NextBytes(buffer);
            var span = buffer.AsSpan(0, length);
            if (random.Next(4) == 0 && length >= 16) BinaryPrimitives.WriteUInt64LittleEndian(span[8..], (ulong)random.Next(200));
            MpqemuMessage.TryReadHeader(span, out var command, out _, out _);
            MpqemuMessage.TryValidate(command, length, random.Next(-1, 10), out _);
            PciConfigData.TryParse(span, out _);
            BarAccessData.TryParse(span, out _);
            SyncSysmemData.TryParse(span, regions.AsSpan(0, random.Next(9)));
            RetData.TryRead(span, out _);
        }
    }
}
