using PciKit.Linux;

namespace PciKit.UserClient;

/// <summary>
/// Memory a service granted: the file descriptor and where the memory lies in it. The caller owns <see cref="File"/>
/// (dispose it once mapped, or hand it on). A read-only grant's descriptor is opened O_RDONLY: mapping it writable fails.
/// </summary>
/// <param name="Type">The memory type asked for.</param>
/// <param name="File">The descriptor, owned by the caller.</param>
/// <param name="FileOffset">Offset of the memory's first byte in the file (need not be page-aligned).</param>
/// <param name="Length">Length of the memory in bytes.</param>
/// <param name="IsReadOnly">The descriptor allows reading only.</param>
public sealed record UserClientMemoryGrant(int Type, SafeFd File, ulong FileOffset, ulong Length, bool IsReadOnly) : IDisposable
{
    /// <summary>Closes the descriptor.</summary>
    public void Dispose() => File.Dispose();
}
