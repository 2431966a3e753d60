using System.Runtime.InteropServices;

namespace PciKit.Linux.Interop;

internal static partial class Libc
{
    internal const uint MFD_CLOEXEC = 0x1;
    internal const uint MFD_ALLOW_SEALING = 0x2;
    internal const uint MFD_HUGETLB = 0x4;

    /// <summary>memfd_create(2) (glibc ≥ 2.27).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int MemfdCreate(string name, uint flags);

    /// <summary>ftruncate(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "ftruncate", SetLastError = true)]
    internal static partial int Ftruncate(SafeFd fd, long length);
}
