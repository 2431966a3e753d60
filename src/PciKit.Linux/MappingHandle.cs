using System.Runtime.InteropServices;
using PciKit.Linux.Interop;

namespace PciKit.Linux;

/// <summary>Owns one mmap'd range; munmap runs once, after the last in-flight access has released it.</summary>
internal sealed class MappingHandle : SafeHandle
{
    private readonly nuint _length;

    internal MappingHandle(nint address, nuint length)
        : base(Libc.MAP_FAILED, ownsHandle: true)
    {
        _length = length;
        SetHandle(address);
    }

    public override bool IsInvalid => handle == Libc.MAP_FAILED || handle == 0;

    protected override bool ReleaseHandle() => Libc.Munmap(handle, _length) == 0;
}
