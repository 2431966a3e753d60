using PciKit.Linux;

namespace PciKit.UserClient;

/// <summary>
/// One memory type a service offers: its own duplicate of the file (absent for read-only types) and a read-only reopen
/// of it, so the descriptors outlive whatever mapping they came from and are closed exactly once, by the service.
/// </summary>
internal sealed class OfferedMemory(int type, SafeFd? writable, SafeFd readOnly, ulong fileOffset, ulong length, bool isReadOnly) : IDisposable
{
    public int Type { get; } = type;
    public SafeFd? Writable { get; } = writable;
    public SafeFd ReadOnly { get; } = readOnly;
    public ulong FileOffset { get; } = fileOffset;
    public ulong Length { get; } = length;
    public bool IsReadOnly { get; } = isReadOnly;

    public void Dispose()
    {
        Writable?.Dispose();
        ReadOnly.Dispose();
    }
}
