namespace PciKit.Linux;

/// <summary>Options for <see cref="UnixSocket.Listen"/>.</summary>
public sealed class UnixListenOptions
{
    /// <summary>Permissions of the socket file; 0600 (owner read/write) by default. Connecting requires write permission.</summary>
    public UnixFileMode Mode { get; init; } = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>
    /// Replace a stale socket file (one nobody listens on) instead of failing with
    /// <see cref="SocketPathInUseException"/>. A path used by a running server, or that is not a socket, is never replaced.
    /// </summary>
    public bool ReplaceStaleSocket { get; init; }

    /// <summary>The listen(2) backlog.</summary>
    public int Backlog { get; init; } = 16;

    /// <summary>Create the listening socket non-blocking (<see cref="UnixSocket.TryAccept"/> returns null instead of waiting).</summary>
    public bool NonBlocking { get; init; }

    /// <summary>Remove the socket file on dispose, if it is still the one this listener created. Default true.</summary>
    public bool DeleteOnDispose { get; init; } = true;
}
