using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace PciKit.Linux.Interop;

internal static partial class Libc
{
    internal const int AT_FDCWD = -100;
    internal const int AT_SYMLINK_NOFOLLOW = 0x100;
    internal const int AT_EMPTY_PATH = 0x1000;
    internal const uint STATX_BASIC_STATS = 0x7ff;

    internal const uint S_IFMT = 0xF000;
    internal const uint S_IFSOCK = 0xC000;
    internal const uint S_IFREG = 0x8000;

    /// <summary>
    /// Size of <c>struct statx</c>. Unlike <c>struct stat</c> its layout is the same on every architecture,
    /// which is why it is used instead of fstat(2).
    /// </summary>
    internal const int StatxSize = 256;

    internal const int StatxModeOffset = 28;   // __u16 stx_mode
    internal const int StatxInoOffset = 32;    // __u64 stx_ino
    internal const int StatxSizeOffset = 40;   // __u64 stx_size
    internal const int StatxDevMajorOffset = 136; // __u32 stx_dev_major
    internal const int StatxDevMinorOffset = 140; // __u32 stx_dev_minor

    /// <summary>statx(2) relative to a directory fd (or AT_FDCWD).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    /// <summary>statx(2) of an open descriptor (AT_EMPTY_PATH).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Statx(SafeFd fd, string path, int flags, uint mask, byte* buffer);

    /// <summary>Status of an open descriptor; throws on failure.</summary>
    internal static unsafe FileStatus FStat(SafeFd fd)
    {
        byte* buffer = stackalloc byte[StatxSize];
        ThrowHelper.Check(Statx(fd, string.Empty, AT_EMPTY_PATH, STATX_BASIC_STATS, buffer), "statx", "fd");
        return FileStatus.Parse(new ReadOnlySpan<byte>(buffer, StatxSize));
    }

    /// <summary>Status of a path without following a final symlink; returns the errno on failure (0 on success).</summary>
    internal static unsafe int TryStat(string path, out FileStatus status)
    {
        byte* buffer = stackalloc byte[StatxSize];
        if (Statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buffer) < 0)
        {
            status = default;
            return ThrowHelper.LastErrno;
        }

        status = FileStatus.Parse(new ReadOnlySpan<byte>(buffer, StatxSize));
        return 0;
    }
}

/// <summary>The fields of <c>struct statx</c> this assembly uses.</summary>
internal readonly record struct FileStatus(uint Mode, ulong Inode, ulong Size, uint DevMajor, uint DevMinor)
{
    internal bool IsSocket => (Mode & Libc.S_IFMT) == Libc.S_IFSOCK;

    internal bool IsRegularFile => (Mode & Libc.S_IFMT) == Libc.S_IFREG;

    internal static FileStatus Parse(ReadOnlySpan<byte> statx) => new(
        BinaryPrimitives.ReadUInt16LittleEndian(statx[Libc.StatxModeOffset..]),
        BinaryPrimitives.ReadUInt64LittleEndian(statx[Libc.StatxInoOffset..]),
        BinaryPrimitives.ReadUInt64LittleEndian(statx[Libc.StatxSizeOffset..]),
        BinaryPrimitives.ReadUInt32LittleEndian(statx[Libc.StatxDevMajorOffset..]),
        BinaryPrimitives.ReadUInt32LittleEndian(statx[Libc.StatxDevMinorOffset..]));
}
