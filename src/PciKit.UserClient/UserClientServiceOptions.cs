using PciKit.Device;

namespace PciKit.UserClient;

/// <summary>Settings of a <see cref="UserClientService"/>.</summary>
public sealed record UserClientServiceOptions
{
    /// <summary>Mode of the socket file (default 0600: only the owner may connect).</summary>
    public UnixFileMode SocketMode { get; init; } = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Replace a stale socket file (one nobody listens on) instead of failing.</summary>
    public bool ReplaceStaleSocket { get; init; }

    /// <summary>Most clients served at once (each has its own thread); one more is told <see cref="UserClientStatus.Busy"/> and closed. Default 16.</summary>
    public int MaxClients { get; init; } = 16;

    /// <summary>Where refused requests and connection faults are logged (rate-limited). Default: nowhere.</summary>
    public IPciLog? Log { get; init; }
}
