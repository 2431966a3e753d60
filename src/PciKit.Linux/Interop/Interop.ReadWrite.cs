using System.Runtime.InteropServices;

namespace PciKit.Linux.Interop;

internal static partial class Libc
{
    /// <summary>read(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "read", SetLastError = true)]
    internal static unsafe partial nint Read(SafeFd fd, void* buffer, nuint count);

    /// <summary>write(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "write", SetLastError = true)]
    internal static unsafe partial nint Write(SafeFd fd, void* buffer, nuint count);
}
