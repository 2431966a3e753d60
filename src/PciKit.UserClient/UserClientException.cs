namespace PciKit.UserClient;

/// <summary>A user-client service refused a request, or its reply could not be understood.</summary>
public sealed class UserClientException : IOException
{
    /// <summary>Creates the exception.</summary>
    public UserClientException(UserClientStatus status, string message) : base(message) => Status = status;

    /// <summary>The service's answer (<see cref="UserClientStatus.Ok"/> when the reply itself was faulty).</summary>
    public UserClientStatus Status { get; }
}
