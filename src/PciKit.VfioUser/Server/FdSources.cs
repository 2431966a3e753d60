using PciKit.Linux;

namespace PciKit.VfioUser.Server;

/// <summary>The fds that came with a message, whether they are still in the socket's buffer or were set aside with a deferred message.</summary>
internal interface IFdSource : IDisposable
{
    int Count { get; }
    FdTransferStatus Status { get; }
    /// <summary>Takes ownership of fd <paramref name="index"/>.</summary>
    SafeFd Take(int index);
    /// <summary>Closes every fd not taken.</summary>
    void DisposeAll();
}

/// <summary>The fds of the message the socket received last (the socket may swap its containers between messages).</summary>
internal sealed class SocketFds(PciKit.VfioUser.Transport.MessageSocket socket) : IFdSource
{
    public int Count => socket.Fds.Count;
    public FdTransferStatus Status => socket.Fds.Status;
    public SafeFd Take(int index) => socket.Fds.Take(index);
    public void DisposeAll() => socket.Fds.Clear();
    public void Dispose() { }
}

internal sealed class ArrayFds(SafeFd?[] fds, FdTransferStatus status = FdTransferStatus.Ok) : IFdSource
{
    public static ArrayFds TakeAll(ReceivedFds received)
    {
        var taken = new SafeFd?[received.Count];
        for (int i = 0; i < taken.Length; i++) taken[i] = received.Take(i);
        return new ArrayFds(taken, received.Status);
    }

    public int Count => fds.Length;
    public FdTransferStatus Status => status;

    public SafeFd Take(int index)
    {
        var fd = fds[index] ?? throw new InvalidOperationException($"fd {index} was already taken.");
        fds[index] = null;
        return fd;
    }

    public void DisposeAll()
    {
        for (int i = 0; i < fds.Length; i++)
        {
            fds[i]?.Dispose();
            fds[i] = null;
        }
    }

    public void Dispose() => DisposeAll();
}
