using PciKit.Device;

namespace PciKit.Ivshmem;

/// <summary>What <see cref="IvshmemServer.Start"/> serves; the defaults are those of QEMU's <c>ivshmem-server</c>.</summary>
public sealed record IvshmemServerOptions
{
    /// <summary>QEMU's default socket path.</summary>
    public const string DefaultSocketPath = "/tmp/ivshmem_socket";

    /// <summary>QEMU's default POSIX shared memory object name.</summary>
    public const string DefaultSharedMemoryName = "ivshmem";

    /// <summary>The UNIX socket peers connect to (<c>-S</c>).</summary>
    public string SocketPath { get; init; } = DefaultSocketPath;

    /// <summary>
    /// The POSIX shared memory object (<c>-M</c>, a name under <c>/dev/shm</c>), opened or created; an existing object keeps
    /// its content. Ignored when <see cref="HugeTlbDirectory"/> is set.
    /// </summary>
    public string SharedMemoryName { get; init; } = DefaultSharedMemoryName;

    /// <summary>
    /// A directory (<c>-m</c>, typically a hugetlbfs mount such as <c>/dev/hugepages</c>) in which the memory is a new file
    /// that is unlinked at once, so only peers reach it. When set, <see cref="SharedMemoryName"/> is not used.
    /// </summary>
    public string? HugeTlbDirectory { get; init; }

    /// <summary>
    /// Requested size in bytes (<c>-l</c>); rounded up to a power of two, and on hugetlbfs doubled until the file system
    /// accepts it (as QEMU's server does). <see cref="IvshmemServer.SharedMemorySize"/> tells the result.
    /// </summary>
    public ulong Size { get; init; } = IvshmemSize.Default;

    /// <summary>Interrupt vectors (eventfds) per peer (<c>-n</c>), 0 … 64.</summary>
    public int Vectors { get; init; } = 1;

    /// <summary>Remove the shared memory object's name when the server stops (QEMU ≥ 2.6 does). Default true.</summary>
    public bool UnlinkSharedMemoryOnStop { get; init; } = true;

    /// <summary>Socket file permissions; 0600 by default (peers must be able to write to it).</summary>
    public UnixFileMode SocketMode { get; init; } = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Replace a stale socket file (one nobody listens on) instead of refusing to start.</summary>
    public bool ReplaceStaleSocket { get; init; }

    /// <summary>
    /// Messages the server queues for a peer that does not read them before it drops that peer (the socket buffer holds the
    /// first few hundred). Default 262144.
    /// </summary>
    public int MaxQueuedMessagesPerPeer { get; init; } = 262144;

    /// <summary>Where connections, departures and misbehaving peers are logged (warnings rate-limited).</summary>
    public IPciLog Log { get; init; } = PciLog.Null;

    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrEmpty(SocketPath, nameof(SocketPath));
        if (HugeTlbDirectory is null)
        {
            ArgumentException.ThrowIfNullOrEmpty(SharedMemoryName, nameof(SharedMemoryName));
        }
        else if (!Directory.Exists(HugeTlbDirectory))
        {
            throw new ArgumentException($"'{HugeTlbDirectory}' is not a directory; give a hugetlbfs mount such as /dev/hugepages.", nameof(HugeTlbDirectory));
        }

        if (Size == 0 || Size > IvshmemSize.Max)
        {
            throw new ArgumentOutOfRangeException(nameof(Size), Size, $"The shared memory size must be 1 byte … {IvshmemSize.Format(IvshmemSize.Max)}.");
        }

        if (Vectors is < 0 or > IvshmemWire.MaxVectors)
        {
            throw new ArgumentOutOfRangeException(nameof(Vectors), Vectors, $"too many requested vectors (max is {IvshmemWire.MaxVectors}); give 0 … {IvshmemWire.MaxVectors}.");
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxQueuedMessagesPerPeer, nameof(MaxQueuedMessagesPerPeer));
        ArgumentNullException.ThrowIfNull(Log, nameof(Log));
    }
}
