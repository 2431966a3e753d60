namespace PciKit.Linux.Interop;

/// <summary>Names of the native libraries this assembly binds to.</summary>
/// <remarks>
/// Conventions for the entry points in this folder: functions that return a new descriptor are declared as
/// returning <see cref="int"/> and wrapped by <see cref="ThrowHelper.CheckFd"/> immediately — a SafeHandle
/// return would read the full 64-bit register although C returns a 32-bit int, so -1 would look valid.
/// Descriptor parameters are <see cref="SafeFd"/> (the runtime holds a reference for the call); the handle
/// travels as a pointer-sized integer whose low 32 bits are the C int the LP64 ABIs read.
/// </remarks>
internal static class Libraries
{
    /// <summary>The C library. The runtime maps "libc" to the platform's libc (libc.so.6 on glibc).</summary>
    internal const string Libc = "libc";
}
