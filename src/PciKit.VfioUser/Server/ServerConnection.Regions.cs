using PciKit.Device;
using PciKit.Linux;
using PciKit.VfioUser.Protocol;

namespace PciKit.VfioUser.Server;

internal sealed partial class ServerConnection
{
    private RegionLayout? _layout;
    private RegionLayout Layout => _layout ??= new RegionLayout(_device);

    private int HandleRegionInfo(ReadOnlySpan<byte> payload, ref int length, out SafeFd? fd, out string? why)
    {
        why = null;
        fd = null;
        if (!RegionInfo.TryParse(payload, out var request, out var error)) return Refuse(error.Errno, error.Message, out why!);
        if (request.Index >= VfioPciRegion.Count) return Refuse(LinuxErrno.EINVAL, $"region {request.Index} does not exist (a PCI device has regions 0–8)", out why!);
        var region = Layout[request.Index];
        length = RegionInfo.WriteReply(_reply, request.ArgSz, request.Index, region.Flags, region.Size, region.FileOffset, region.SparseAreas);
        fd = region.Fd;
        return 0;
    }

    private int HandleRegionRead(ReadOnlySpan<byte> payload, ref int length, out string? why)
    {
        why = null;
        if (!RegionAccess.TryParseRead(payload, out var access, out var error)) return Refuse(error.Errno, error.Message, out why!);
        int errno = CheckAccess(access, out why);
        if (errno != 0) return errno;
        int fixedSize = RegionAccess.FixedSize;
        var data = _reply.AsSpan(fixedSize, (int)access.Count);
        EnterDevice();
        try
        {
            if (access.Region == VfioPciRegion.Config) ReadConfig((int)access.Offset, data);
            else ReadBar((int)access.Region, access.Offset, data);
        }
        finally
        {
            _device.SyncRoot.Exit();
        }
        access.Write(_reply);
        length = fixedSize + (int)access.Count;
        return 0;
    }

    private int HandleRegionWrite(ReadOnlySpan<byte> payload, ref int length, out string? why)
    {
        why = null;
        if (!RegionAccess.TryParseWrite(payload, out var access, out var data, out var error)) return Refuse(error.Errno, error.Message, out why!);
        int errno = CheckAccess(access, out why);
        if (errno != 0) return errno;
        EnterDevice();
        try
        {
            if (access.Region == VfioPciRegion.Config) WriteConfig((int)access.Offset, data);
            else WriteBar((int)access.Region, access.Offset, data);
        }
        finally
        {
            _device.SyncRoot.Exit();
        }
        length = access.Write(_reply);
        return 0;
    }

    private int HandleRegionWriteMulti(ReadOnlySpan<byte> payload, ref int length, out string? why)
    {
        why = null;
        if (!RegionWriteMultiRequest.TryParse(payload, out var request, out var error)) return Refuse(error.Errno, error.Message, out why!);
        for (int i = 0; i < request.Count; i++)
        {
            var entry = request[i];
            int errno = CheckAccess(new RegionAccess(entry.Offset, entry.Region, (uint)entry.Data.Length), out why);
            if (errno != 0) return errno;
        }
        EnterDevice();
        try
        {
            for (int i = 0; i < request.Count; i++)
            {
                var entry = request[i];
                if (entry.Region == VfioPciRegion.Config) WriteConfig((int)entry.Offset, entry.Data);
                else WriteBar((int)entry.Region, entry.Offset, entry.Data);
            }
        }
        finally
        {
            _device.SyncRoot.Exit();
        }
        length = RegionWriteMultiRequest.WriteReply(_reply, (ulong)request.Count);
        return 0;
    }

    private int CheckAccess(in RegionAccess access, out string? why)
    {
        why = null;
        if (access.Region >= VfioPciRegion.Count) return Refuse(LinuxErrno.EINVAL, $"region {access.Region} does not exist", out why!);
        var region = Layout[access.Region];
        if (access.Count == 0) return Refuse(LinuxErrno.EINVAL, "zero-length access", out why!);
        if (access.Count > _options.MaxDataTransferSize) return Refuse(LinuxErrno.E2BIG, $"{access.Count} bytes exceed max_data_xfer_size", out why!);
        if (access.Offset >= region.Size || access.Count > region.Size - access.Offset)
            return Refuse(LinuxErrno.EINVAL, $"[{access.Offset:x}, +{access.Count:x}) is outside region {access.Region} ({region.Size:x} bytes)", out why!);
        return 0;
    }

    /// <summary>Splits an access into naturally aligned pieces of 8, 4, 2 or 1 bytes (the device model's access sizes).</summary>
    private static int Piece(ulong offset, int remaining, int max)
    {
        int size = max;
        while (size > 1 && (size > remaining || (offset & (ulong)(size - 1)) != 0)) size >>= 1;
        return size;
    }

    private void ReadBar(int bar, ulong offset, Span<byte> data)
    {
        for (int done = 0; done < data.Length;)
        {
            int size = Piece(offset + (ulong)done, data.Length - done, 8);
            ulong value = _device.BarRead(bar, offset + (ulong)done, size);
            for (int i = 0; i < size; i++) data[done + i] = (byte)(value >> (8 * i));
            done += size;
        }
    }

    private void WriteBar(int bar, ulong offset, ReadOnlySpan<byte> data)
    {
        for (int done = 0; done < data.Length;)
        {
            int size = Piece(offset + (ulong)done, data.Length - done, 8);
            ulong value = 0;
            for (int i = 0; i < size; i++) value |= (ulong)data[done + i] << (8 * i);
            _device.BarWrite(bar, offset + (ulong)done, size, value);
            done += size;
        }
    }

    private void ReadConfig(int offset, Span<byte> data)
    {
        for (int done = 0; done < data.Length;)
        {
            int size = Piece((ulong)(offset + done), data.Length - done, 4);
            uint value = _device.ConfigRead(offset + done, size);
            for (int i = 0; i < size; i++) data[done + i] = (byte)(value >> (8 * i));
            done += size;
        }
    }

    private void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
        for (int done = 0; done < data.Length;)
        {
            int size = Piece((ulong)(offset + done), data.Length - done, 4);
            uint value = 0;
            for (int i = 0; i < size; i++) value |= (uint)data[done + i] << (8 * i);
            _device.ConfigWrite(offset + done, size, value);
            done += size;
        }
    }
}
