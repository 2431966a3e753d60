using PciKit.Memory;
using PciKit.Config;

namespace PciKit.Device;

/// <summary>
/// The memory a device's DMA reaches (host RAM, a guest's RAM mapped from a client, a message channel), supplied by
/// whoever hosts the device. Implementations bounds-check every access against what the peer mapped and split
/// accesses that span several adjacent windows.
/// </summary>
public interface IDmaSpace
{
    /// <summary>Copies from device-visible <paramref name="address"/>; false if any byte is outside the mapped windows.</summary>
    bool TryRead(ulong address, Span<byte> destination);

    /// <summary>Copies to device-visible <paramref name="address"/>; false if any byte is outside the mapped windows.</summary>
    bool TryWrite(ulong address, ReadOnlySpan<byte> source);

    /// <summary>
    /// Direct access to [<paramref name="address"/>, +<paramref name="length"/>) when it is memory this process
    /// addresses (see <see cref="DmaAddressSpace.TryPin"/>); false when the space cannot give it (the caller copies
    /// with <see cref="TryRead"/>/<see cref="TryWrite"/> instead). The default gives nothing.
    /// </summary>
    bool TryPin(ulong address, int length, DmaAccess need, out DmaPin pin)
    {
        pin = default;
        return false;
    }
}

/// <summary>Outcome of a device DMA.</summary>
public enum DmaStatus
{
    /// <summary>Done.</summary>
    Ok = 0,
    /// <summary>Refused: Bus Master Enable is off in the Command register.</summary>
    BusMasterDisabled,
    /// <summary>Refused: part of the range is not mapped (the function sees a master abort).</summary>
    Unmapped,
    /// <summary>Refused: the device is not attached to a host.</summary>
    NoHost,
}

/// <summary>
/// The device side of DMA: checks Bus Master Enable, goes through the host's <see cref="IDmaSpace"/>, and counts and
/// logs refusals. A DMA to unmapped memory sets Received Master Abort in the Status register, as hardware does.
/// Call with the device lock held.
/// </summary>
public sealed class DmaPort
{
    private readonly PciDevice _device;
    private IDmaSpace? _space;

    internal DmaPort(PciDevice device) => _device = device;

    internal void Connect(IDmaSpace? space) => _space = space;

    /// <summary>Reads device-visible memory at <paramref name="address"/> into <paramref name="destination"/>.</summary>
    public DmaStatus Read(ulong address, Span<byte> destination)
    {
        var status = Check(address, destination.Length);
        if (status != DmaStatus.Ok) return status;
        return _space!.TryRead(address, destination) ? DmaStatus.Ok : Fault(address, destination.Length);
    }

    /// <summary>Writes <paramref name="source"/> to device-visible memory at <paramref name="address"/>.</summary>
    public DmaStatus Write(ulong address, ReadOnlySpan<byte> source)
    {
        var status = Check(address, source.Length);
        if (status != DmaStatus.Ok) return status;
        return _space!.TryWrite(address, source) ? DmaStatus.Ok : Fault(address, source.Length);
    }

    /// <summary>
    /// Direct access to device-visible memory for a zero-copy transfer (e.g. file I/O straight into a guest's buffer):
    /// true when Bus Master is on and the range lies in one window of process-addressable memory granting the access.
    /// Dispose the pin when done. False is no fault: fall back to <see cref="Read"/>/<see cref="Write"/>, which report one.
    /// </summary>
    public bool TryPin(ulong address, int length, bool write, out DmaPin pin)
    {
        pin = default;
        if (_space is null || !BusMasterEnabled) return false;
        return _space.TryPin(address, length, write ? DmaAccess.Write : DmaAccess.Read, out pin);
    }

    private bool BusMasterEnabled => ((PciCommand)_device.Config.Get16(PciHeader.Command) & PciCommand.BusMaster) != 0;

    private DmaStatus Check(ulong address, int length)
    {
        if (!BusMasterEnabled)
        {
            _device.Counters.Increment(ref _device.Counters.DmaRefusedBusMaster);
            if (_device.ShouldLog(GuestErrorKind.Dma, out int suppressed)) _device.WriteGuestError(suppressed, $"DMA of {length} bytes at 0x{address:x} refused: Bus Master is off");
            return DmaStatus.BusMasterDisabled;
        }
        if (_space is null)
        {
            _device.Counters.Increment(ref _device.Counters.DmaFaults);
            return DmaStatus.NoHost;
        }
        return DmaStatus.Ok;
    }

    private DmaStatus Fault(ulong address, int length)
    {
        _device.Counters.Increment(ref _device.Counters.DmaFaults);
        _device.Config.SetBits16(PciHeader.Status, (ushort)PciStatus.ReceivedMasterAbort);
        if (_device.ShouldLog(GuestErrorKind.Dma, out int suppressed)) _device.WriteGuestError(suppressed, $"DMA of {length} bytes at 0x{address:x} touches unmapped memory");
        return DmaStatus.Unmapped;
    }
}
