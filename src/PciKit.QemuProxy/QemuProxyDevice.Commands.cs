using PciKit.Device;
using PciKit.Linux;
using PciKit.QemuProxy.Protocol;

namespace PciKit.QemuProxy;

public sealed partial class QemuProxyDevice
{
    private long _unclaimedLogged;

    /// <summary>Runs one well-framed message. Never throws for what QEMU sent.</summary>
    private void Handle(MpqemuCommand command, ReadOnlySpan<byte> data)
    {
        int fdCount = _fds.Status == FdTransferStatus.Ok ? _fds.Count : MpqemuMessage.MaxFds + 1;
        if (!MpqemuMessage.TryValidate(command, data.Length, fdCount, out var error))
        {
            Interlocked.Increment(ref Counters.Malformed);
            string fds = _fds.Status == FdTransferStatus.Ok ? $"{_fds.Count} fds" : $"fds refused ({_fds.Status}, {_fds.DiscardedCount} closed)";
            LogError($"{command} ({data.Length} bytes, {fds}): {MpqemuMessage.Describe(error)}; {(MpqemuMessage.ExpectsReply(command) ? "answered with RET all-ones" : "ignored")}");
            _fds.Clear();
            if (MpqemuMessage.ExpectsReply(command)) Reply(ulong.MaxValue);
            return;
        }

        ulong value = 0;
        try
        {
            value = Run(command, data);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A device handler failed: the device's fault, not QEMU's. QEMU still gets its answer.
            value = ulong.MaxValue;
            Log.Write(PciLogLevel.Error, "qemu-proxy", $"{command} failed in {Device.Name}: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            _fds.Clear();
        }
        if (MpqemuMessage.ExpectsReply(command)) Reply(value);
    }

    /// <summary>Runs a validated command and returns the RET value (ignored for commands without a reply).</summary>
    private ulong Run(MpqemuCommand command, ReadOnlySpan<byte> data)
    {
        switch (command)
        {
            case MpqemuCommand.PciConfigRead:
                PciConfigData.TryParse(data, out var read);
                return ConfigRead(read);
            case MpqemuCommand.PciConfigWrite:
                PciConfigData.TryParse(data, out var write);
                return ConfigWrite(write);
            case MpqemuCommand.BarRead:
                BarAccessData.TryParse(data, out var barRead);
                return BarRead(barRead);
            case MpqemuCommand.BarWrite:
                BarAccessData.TryParse(data, out var barWrite);
                BarWrite(barWrite);
                return 0;
            case MpqemuCommand.SyncSysmem:
                Span<SysmemRegion> regions = stackalloc SysmemRegion[_fds.Count];
                SyncSysmemData.TryParse(data, regions);
                _memory.Sync(regions, _fds);
                return 0;
            case MpqemuCommand.SetIrqfd:
                _irqs.Attach(EventFd.FromHandle(_fds.Take(0)), EventFd.FromHandle(_fds.Take(1)));
                return 0;
            case MpqemuCommand.DeviceReset:
                Device.Reset(PciResetKind.Conventional);
                return 0;
            default:
                return ulong.MaxValue;
        }
    }

    private static int ToConfigOffset(uint address) => address > int.MaxValue ? -1 : (int)address;

    private ulong ConfigRead(in PciConfigData access)
    {
        // Invalid accesses (offset beyond 256 bytes, a length other than 1, 2, 4) read all-ones and are counted by the device.
        return Device.ConfigRead(ToConfigOffset(access.Address), access.Length);
    }

    private ulong ConfigWrite(in PciConfigData access)
    {
        int offset = ToConfigOffset(access.Address);
        bool valid = Device.Config.IsValidAccess(offset, access.Length);
        Device.ConfigWrite(offset, access.Length, access.Value);
        // QEMU's own remote answers a refused write with all-ones (QEMU then reports "Failed to perform PCI config WRITE").
        return valid ? 0 : ulong.MaxValue;
    }

    private ulong BarRead(in BarAccessData access)
    {
        int size = access.AccessSize > 8 ? 0 : (int)access.AccessSize;
        if (!Device.TryDecode(access.Address, ioSpace: !access.Memory, out int bar, out ulong offset))
        {
            Unclaimed(access, write: false);
            return AllOnes(size);
        }
        return Device.BarRead(bar, offset, size);
    }

    private void BarWrite(in BarAccessData access)
    {
        int size = access.AccessSize > 8 ? 0 : (int)access.AccessSize;
        if (!Device.TryDecode(access.Address, ioSpace: !access.Memory, out int bar, out ulong offset))
        {
            Unclaimed(access, write: true);
            return;
        }
        Device.BarWrite(bar, offset, size, access.Value);
    }

    private void Unclaimed(in BarAccessData access, bool write)
    {
        Interlocked.Increment(ref Counters.UnclaimedBarAccesses);
        long n = Interlocked.Increment(ref _unclaimedLogged);
        if (n <= 20 || n % 1000 == 0)
            Log.Write(PciLogLevel.Warning, "qemu-proxy",
                $"{(write ? "write" : "read")} of {access.AccessSize} bytes at {(access.Memory ? "memory" : "I/O")} address 0x{access.Address:x} is claimed by no decoding BAR of {Device.Name}; {(write ? "dropped" : "reads all-ones")}{(n == 20 ? " (further ones are logged every 1000th)" : "")}");
    }

    private static ulong AllOnes(int size) => size is >= 8 or <= 0 ? ulong.MaxValue : (1UL << (size * 8)) - 1;
}
