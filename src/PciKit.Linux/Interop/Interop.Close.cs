using System.Runtime.InteropServices;

namespace PciKit.Linux.Interop;

internal static partial class Libc
{
    /// <summary>close(2). Never retried on EINTR: Linux releases the descriptor before reporting it.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);
}
