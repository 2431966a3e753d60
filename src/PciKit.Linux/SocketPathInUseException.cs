namespace PciKit.Linux;

/// <summary>
/// A UNIX socket could not be bound because its path already exists (EADDRINUSE). <see cref="IsStale"/>
/// tells a leftover socket file (nobody listens) from a running server.
/// </summary>
public sealed class SocketPathInUseException : LinuxException
{
    internal SocketPathInUseException(string path, SocketPathState state)
        : base(Interop.Errno.EADDRINUSE, $"bind({path})", FormatMessage(path, state))
    {
        Path = path;
        State = state;
    }

    /// <summary>The socket path.</summary>
    public string Path { get; }

    /// <summary>What occupies the path.</summary>
    public SocketPathState State { get; }

    /// <summary><see langword="true"/> when the path is a socket file nobody listens on.</summary>
    public bool IsStale => State == SocketPathState.Stale;

    private static string FormatMessage(string path, SocketPathState state) => state switch
    {
        SocketPathState.Stale =>
            $"'{path}' is a stale socket file (nobody is listening); remove it or pass --force " +
            $"({nameof(UnixListenOptions)}.{nameof(UnixListenOptions.ReplaceStaleSocket)} = true).",
        SocketPathState.ServerRunning => $"'{path}' is in use by a running server; stop it or choose another path.",
        _ => $"'{path}' exists and is not a socket; refusing to replace it.",
    };
}

/// <summary>What occupies a socket path that could not be bound.</summary>
public enum SocketPathState
{
    /// <summary>A socket file that nobody listens on (connect gives ECONNREFUSED).</summary>
    Stale,

    /// <summary>A socket with a listening server.</summary>
    ServerRunning,

    /// <summary>Something that is not a socket (regular file, directory …).</summary>
    NotASocket,
}
