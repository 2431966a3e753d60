using PciKit.VfioUser.Protocol;

namespace PciKit.VfioUser.Client;

/// <summary>
/// A vfio-user request failed: the server answered with an error reply (<see cref="Errno"/> is its errno), or its
/// reply broke the protocol. Timeouts are <see cref="TimeoutException"/>; a lost connection is
/// <see cref="VfioUserDisconnectedException"/>.
/// </summary>
public class VfioUserException : PciException
{
    /// <summary>Creates the exception for <paramref name="command"/> (the header's cmd number) and <paramref name="errno"/>.</summary>
    public VfioUserException(string message, int command, int errno)
        : base(message)
    {
        Command = command;
        Errno = errno;
    }

    /// <summary>Creates the exception with an inner cause.</summary>
    public VfioUserException(string message, int command, int errno, Exception inner)
        : base(message, inner)
    {
        Command = command;
        Errno = errno;
    }

    /// <summary>The command number of the failed request (1 VERSION … 18 MIG_DATA_WRITE).</summary>
    public int Command { get; }

    /// <summary>The command's name as the spec spells it (e.g. <c>REGION_READ</c>).</summary>
    public string CommandName => NameOf(Command);

    /// <summary>The Linux errno the server reported (0 when the failure was not an error reply).</summary>
    public int Errno { get; }

    internal static string NameOf(int command) => (VfioUserCommand)command switch
    {
        VfioUserCommand.Version => "VERSION",
        VfioUserCommand.DmaMap => "DMA_MAP",
        VfioUserCommand.DmaUnmap => "DMA_UNMAP",
        VfioUserCommand.DeviceGetInfo => "DEVICE_GET_INFO",
        VfioUserCommand.DeviceGetRegionInfo => "DEVICE_GET_REGION_INFO",
        VfioUserCommand.DeviceGetRegionIoFds => "DEVICE_GET_REGION_IO_FDS",
        VfioUserCommand.DeviceGetIrqInfo => "DEVICE_GET_IRQ_INFO",
        VfioUserCommand.DeviceSetIrqs => "DEVICE_SET_IRQS",
        VfioUserCommand.RegionRead => "REGION_READ",
        VfioUserCommand.RegionWrite => "REGION_WRITE",
        VfioUserCommand.DmaRead => "DMA_READ",
        VfioUserCommand.DmaWrite => "DMA_WRITE",
        VfioUserCommand.DeviceReset => "DEVICE_RESET",
        VfioUserCommand.RegionWriteMulti => "REGION_WRITE_MULTI",
        VfioUserCommand.DeviceFeature => "DEVICE_FEATURE",
        VfioUserCommand.MigDataRead => "MIG_DATA_READ",
        VfioUserCommand.MigDataWrite => "MIG_DATA_WRITE",
        _ => $"command {command}",
    };
}

/// <summary>The connection to the vfio-user server is gone (it closed the socket, or the client was disposed); reconnect to continue.</summary>
public sealed class VfioUserDisconnectedException : VfioUserException
{
    /// <summary>Creates the exception.</summary>
    public VfioUserDisconnectedException(string message, int command)
        : base(message, command, 104 /* ECONNRESET */)
    {
    }

    /// <summary>Creates the exception with an inner cause.</summary>
    public VfioUserDisconnectedException(string message, int command, Exception inner)
        : base(message, command, 104 /* ECONNRESET */, inner)
    {
    }
}
