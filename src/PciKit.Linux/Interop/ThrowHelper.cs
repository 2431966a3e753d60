using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace PciKit.Linux.Interop;

/// <summary>The one place where errno becomes a <see cref="LinuxException"/>.</summary>
internal static class ThrowHelper
{
    /// <summary>The errno left by the last <c>SetLastError = true</c> P/Invoke on this thread.</summary>
    internal static int LastErrno => Marshal.GetLastPInvokeError();

    /// <summary>Throws for the errno left by the last P/Invoke.</summary>
    [DoesNotReturn]
    internal static void ThrowLastError(string call, string? subject = null) => Throw(LastErrno, call, subject);

    /// <summary>Throws a <see cref="LinuxException"/> for <paramref name="errno"/>.</summary>
    [DoesNotReturn]
    internal static void Throw(int errno, string call, string? subject = null) =>
        throw new LinuxException(errno, subject is null ? call : $"{call}({subject})");

    /// <summary>Returns <paramref name="result"/> when it is non-negative, otherwise throws for errno.</summary>
    internal static int Check(int result, string call, string? subject = null)
    {
        if (result < 0)
        {
            ThrowLastError(call, subject);
        }

        return result;
    }

    /// <summary>Wraps a descriptor returned by a native call at once, or throws for errno when it is negative.</summary>
    internal static SafeFd CheckFd(int fd, string call, string? subject = null)
    {
        if (fd < 0)
        {
            ThrowLastError(call, subject);
        }

        return new SafeFd(fd, ownsHandle: true);
    }

    [DoesNotReturn]
    internal static void ThrowObjectDisposed(object instance) => throw new ObjectDisposedException(instance.GetType().FullName);

    [DoesNotReturn]
    internal static void ThrowOutOfRange(string paramName, string message) => throw new ArgumentOutOfRangeException(paramName, message);
}
