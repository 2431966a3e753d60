namespace PciKit.Linux;

/// <summary>The credentials of a UNIX socket's peer at connect time (SO_PEERCRED).</summary>
/// <param name="ProcessId">The peer's process id.</param>
/// <param name="UserId">The peer's effective user id.</param>
/// <param name="GroupId">The peer's effective group id.</param>
public readonly record struct PeerCredentials(int ProcessId, uint UserId, uint GroupId);
