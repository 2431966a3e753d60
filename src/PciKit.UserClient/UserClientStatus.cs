namespace PciKit.UserClient;

/// <summary>What a user-client service answered (the reply's status field).</summary>
public enum UserClientStatus : uint
{
    /// <summary>The memory was granted; its descriptor came with the reply.</summary>
    Ok = 0,
    /// <summary>The request was not a valid request (bad magic, reserved flag bits set).</summary>
    Malformed = 1,
    /// <summary>The request's protocol version is not one the service speaks.</summary>
    UnsupportedVersion = 2,
    /// <summary>The request's command is not known.</summary>
    UnknownCommand = 3,
    /// <summary>No memory of the requested type is offered.</summary>
    UnknownType = 4,
    /// <summary>A writable mapping was asked for memory offered read-only.</summary>
    ReadOnlyType = 5,
    /// <summary>The service cannot hand the memory out now (it was withdrawn, or a system call failed).</summary>
    Unavailable = 6,
    /// <summary>The service already serves its maximum number of clients.</summary>
    Busy = 7,
}
