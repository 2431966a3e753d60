using System.Runtime.InteropServices;
using PciKit.Linux.Interop;

namespace PciKit.Linux;

/// <summary>A Linux system call failed. Carries the errno value, its symbolic name and the failed call.</summary>
public class LinuxException : IOException
{
    /// <summary>Creates an exception for <paramref name="errno"/> returned by <paramref name="call"/>.</summary>
    /// <param name="errno">The errno value.</param>
    /// <param name="call">The failed call, e.g. <c>"bind(/run/pcikit.sock)"</c>.</param>
    public LinuxException(int errno, string call)
        : this(errno, call, null)
    {
    }

    /// <summary>Creates an exception with a message that replaces the default one.</summary>
    /// <param name="errno">The errno value.</param>
    /// <param name="call">The failed call.</param>
    /// <param name="message">The message; <see langword="null"/> for "call: ENAME (description)".</param>
    public LinuxException(int errno, string call, string? message)
        : base(message ?? FormatMessage(errno, call))
    {
        Errno = errno;
        ErrorName = Interop.Errno.Name(errno);
        Call = call;
        HResult = errno;
    }

    /// <summary>The errno value, e.g. 11 for EAGAIN.</summary>
    public int Errno { get; }

    /// <summary>The symbolic errno name, e.g. <c>"EAGAIN"</c>.</summary>
    public string ErrorName { get; }

    /// <summary>The call that failed, with its subject (path, fd kind) when known.</summary>
    public string Call { get; }

    /// <summary><see langword="true"/> when the call would have blocked on a non-blocking descriptor (EAGAIN).</summary>
    public bool IsWouldBlock => Errno == Interop.Errno.EAGAIN;

    private static string FormatMessage(int errno, string call) =>
        $"{call}: {Interop.Errno.Name(errno)} ({Marshal.GetPInvokeErrorMessage(errno)})";
}
