namespace PciKit.Linux;

/// <summary>Options for <see cref="EventFd"/>.</summary>
[Flags]
public enum EventFdOptions
{
    /// <summary>A counter: a read returns the whole count and resets it to zero.</summary>
    None = 0,

    /// <summary>EFD_SEMAPHORE: a read returns 1 and decrements the count.</summary>
    Semaphore = 1,

    /// <summary>EFD_NONBLOCK on the open file description (matters when the fd is passed to another process).</summary>
    NonBlocking = 2,
}
