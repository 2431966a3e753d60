namespace PciKit.Ivshmem;

/// <summary>Base of the errors of the ivshmem server and peer library.</summary>
public class IvshmemException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong and what to do.</param>
    /// <param name="inner">The cause, if any.</param>
    public IvshmemException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}

/// <summary>
/// The server sent something the protocol does not allow (a bad version, an id outside 0 … 65535, a second
/// shared-memory message, more eventfds than vectors …) or hung up during setup. The peer closes its connection.
/// </summary>
public sealed class IvshmemProtocolException(string message, Exception? inner = null) : IvshmemException(message, inner);

/// <summary><see cref="IvshmemPeer.Ring"/> named a peer that is not connected, or a vector that peer does not have.</summary>
public sealed class IvshmemDoorbellException : IvshmemException
{
    internal IvshmemDoorbellException(int peerId, int vector, string message)
        : base(message)
    {
        PeerId = peerId;
        Vector = vector;
    }

    /// <summary>The peer id that was rung.</summary>
    public int PeerId { get; }

    /// <summary>The vector that was rung.</summary>
    public int Vector { get; }
}
