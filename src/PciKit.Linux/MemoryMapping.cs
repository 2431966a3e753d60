using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using PciKit.Linux.Interop;

namespace PciKit.Linux;

/// <summary>
/// One mmap'd range (MAP_SHARED of a descriptor, or anonymous) with bounds-checked, overflow-safe accessors.
/// The mapping is unmapped on <see cref="Dispose"/>; afterwards every accessor, and every
/// <see cref="MappedView"/> over it, throws <see cref="ObjectDisposedException"/>.
/// </summary>
/// <remarks>
/// <para>Thread safety: accessors may be called from any number of threads. <see cref="Read{T}"/>,
/// <see cref="Write{T}"/>, <see cref="CopyTo"/> and <see cref="CopyFrom"/> hold a reference on the mapping for
/// their duration (like <see cref="System.Runtime.InteropServices.SafeHandle.DangerousAddRef"/>), so a concurrent
/// <see cref="Dispose"/> defers munmap until they finish and they never touch unmapped memory.</para>
/// <para><see cref="GetSpan"/>, <see cref="GetReadOnlySpan"/> and <see cref="Pointer"/> hand out memory
/// without such a reference: they are checked when obtained, but the caller must not use them after, or
/// concurrently with, <see cref="Dispose"/>. They exist for hot paths whose owner controls the lifetime.</para>
/// <para>Memory is shared with other processes: reads may observe concurrent writes; T-sized accesses at
/// naturally aligned offsets compile to single loads/stores on x86-64 and arm64.</para>
/// </remarks>
public sealed unsafe class MemoryMapping : IDisposable
{
    private readonly MappingHandle _handle;
    private readonly byte* _pointer;

    private MemoryMapping(nint address, ulong length, bool writable)
    {
        _handle = new MappingHandle(address, (nuint)length);
        _pointer = (byte*)address;
        Length = length;
        IsWritable = writable;
    }

    /// <summary>The mapping's length in bytes.</summary>
    public ulong Length { get; }

    /// <summary>Whether the mapping was created with <see cref="MappingAccess.ReadWrite"/>.</summary>
    public bool IsWritable { get; }

    /// <summary>Whether <see cref="Dispose"/> has been called.</summary>
    public bool IsDisposed => _handle.IsClosed;

    /// <summary>
    /// The base address, for hot paths. Checked when read; staying within <see cref="Length"/>, honouring
    /// <see cref="IsWritable"/> and not using it after <see cref="Dispose"/> are the caller's responsibility.
    /// </summary>
    public byte* Pointer
    {
        get
        {
            ThrowIfDisposed();
            return _pointer;
        }
    }

    /// <summary>Maps <paramref name="length"/> bytes of <paramref name="fd"/> at <paramref name="offset"/> with MAP_SHARED.</summary>
    /// <param name="fd">The descriptor; the mapping stays valid after it is closed.</param>
    /// <param name="offset">File offset; a multiple of the page size.</param>
    /// <param name="length">Bytes to map; not zero. For regular files (memfd, shm) offset + length must not pass the end of the file.</param>
    /// <param name="access">Protection.</param>
    /// <returns>The mapping.</returns>
    public static MemoryMapping Map(SafeFd fd, ulong offset, ulong length, MappingAccess access = MappingAccess.ReadWrite)
    {
        ArgumentNullException.ThrowIfNull(fd);
        ValidateLength(length);
        if (offset % (ulong)Environment.SystemPageSize != 0)
        {
            throw new ArgumentException($"Offset 0x{offset:x} is not a multiple of the page size ({Environment.SystemPageSize}).", nameof(offset));
        }

        if (offset > long.MaxValue)
        {
            ThrowHelper.ThrowOutOfRange(nameof(offset), "Offset exceeds the largest file offset.");
        }

        // Touching pages past the end of a regular file raises SIGBUS, which would kill the process: refuse up front.
        FileStatus status = Libc.FStat(fd);
        if (status.IsRegularFile && (offset > status.Size || length > status.Size - offset))
        {
            ThrowHelper.ThrowOutOfRange(nameof(length), $"Range [0x{offset:x}, +0x{length:x}) passes the end of the file (size 0x{status.Size:x}).");
        }

        bool writable = access == MappingAccess.ReadWrite;
        int prot = writable ? Libc.PROT_READ | Libc.PROT_WRITE : Libc.PROT_READ;
        nint address = Libc.Mmap(0, (nuint)length, prot, Libc.MAP_SHARED, fd, (long)offset);
        if (address == Libc.MAP_FAILED)
        {
            ThrowHelper.ThrowLastError("mmap", "MAP_SHARED");
        }

        return new MemoryMapping(address, length, writable);
    }

    /// <summary>Maps <paramref name="length"/> bytes of zeroed private anonymous memory, read-write.</summary>
    /// <param name="length">Bytes to map; not zero.</param>
    /// <returns>The mapping.</returns>
    public static MemoryMapping MapAnonymous(ulong length)
    {
        ValidateLength(length);
        nint address = Libc.MmapAnonymous(0, (nuint)length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        if (address == Libc.MAP_FAILED)
        {
            ThrowHelper.ThrowLastError("mmap", "MAP_ANONYMOUS");
        }

        return new MemoryMapping(address, length, writable: true);
    }

    /// <summary>A writable span over [offset, offset + length). See the remarks about lifetime.</summary>
    /// <param name="offset">Start, relative to the mapping.</param>
    /// <param name="length">Length in bytes.</param>
    /// <returns>The span.</returns>
    /// <exception cref="InvalidOperationException">The mapping is read-only; use <see cref="GetReadOnlySpan"/>.</exception>
    public Span<byte> GetSpan(ulong offset, int length)
    {
        ThrowIfDisposed();
        ThrowIfReadOnly();
        CheckRange(offset, length);
        return new Span<byte>(_pointer + offset, length);
    }

    /// <summary>A read-only span over [offset, offset + length). See the remarks about lifetime.</summary>
    /// <param name="offset">Start, relative to the mapping.</param>
    /// <param name="length">Length in bytes.</param>
    /// <returns>The span.</returns>
    public ReadOnlySpan<byte> GetReadOnlySpan(ulong offset, int length)
    {
        ThrowIfDisposed();
        CheckRange(offset, length);
        return new ReadOnlySpan<byte>(_pointer + offset, length);
    }

    /// <summary>Reads a <typeparamref name="T"/> at <paramref name="offset"/> (unaligned allowed).</summary>
    /// <typeparam name="T">An unmanaged type.</typeparam>
    /// <param name="offset">Offset relative to the mapping.</param>
    /// <returns>The value.</returns>
    public T Read<T>(ulong offset)
        where T : unmanaged
    {
        CheckRange(offset, sizeof(T));
        bool added = false;
        try
        {
            AddRef(ref added);
            return Unsafe.ReadUnaligned<T>(_pointer + offset);
        }
        finally
        {
            Release(added);
        }
    }

    /// <summary>Writes a <typeparamref name="T"/> at <paramref name="offset"/> (unaligned allowed).</summary>
    /// <typeparam name="T">An unmanaged type.</typeparam>
    /// <param name="offset">Offset relative to the mapping.</param>
    /// <param name="value">The value.</param>
    public void Write<T>(ulong offset, T value)
        where T : unmanaged
    {
        ThrowIfReadOnly();
        CheckRange(offset, sizeof(T));
        bool added = false;
        try
        {
            AddRef(ref added);
            Unsafe.WriteUnaligned(_pointer + offset, value);
        }
        finally
        {
            Release(added);
        }
    }

    /// <summary>Copies <c>destination.Length</c> bytes starting at <paramref name="offset"/> into <paramref name="destination"/>.</summary>
    /// <param name="offset">Source offset relative to the mapping.</param>
    /// <param name="destination">Where to copy to.</param>
    public void CopyTo(ulong offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        bool added = false;
        try
        {
            AddRef(ref added);
            new ReadOnlySpan<byte>(_pointer + offset, destination.Length).CopyTo(destination);
        }
        finally
        {
            Release(added);
        }
    }

    /// <summary>Copies <paramref name="source"/> into the mapping at <paramref name="offset"/>.</summary>
    /// <param name="offset">Destination offset relative to the mapping.</param>
    /// <param name="source">The bytes to copy.</param>
    public void CopyFrom(ulong offset, ReadOnlySpan<byte> source)
    {
        ThrowIfReadOnly();
        CheckRange(offset, source.Length);
        bool added = false;
        try
        {
            AddRef(ref added);
            source.CopyTo(new Span<byte>(_pointer + offset, source.Length));
        }
        finally
        {
            Release(added);
        }
    }

    /// <summary>A view of [offset, offset + length) whose offsets are relative to <paramref name="offset"/>.</summary>
    /// <param name="offset">Start, relative to the mapping.</param>
    /// <param name="length">Length of the view.</param>
    /// <returns>The view; it becomes invalid (throws) once this mapping is disposed.</returns>
    public MappedView CreateView(ulong offset, ulong length)
    {
        ThrowIfDisposed();
        CheckRange(offset, length);
        return new MappedView(this, offset, length);
    }

    /// <summary>Unmaps the memory (deferred until in-flight checked accessors finish). Idempotent.</summary>
    public void Dispose() => _handle.Dispose();

    /// <summary>Throws unless [offset, offset + length) lies within the mapping; immune to overflow.</summary>
    internal void CheckRange(ulong offset, long length)
    {
        if (length < 0)
        {
            ThrowHelper.ThrowOutOfRange(nameof(length), "Length must not be negative.");
        }

        CheckRange(offset, (ulong)length);
    }

    internal void CheckRange(ulong offset, ulong length)
    {
        if (offset > Length || length > Length - offset)
        {
            ThrowRangeOutside(offset, length);
        }
    }

    private static void ValidateLength(ulong length)
    {
        if (length == 0 || length > (ulong)nint.MaxValue)
        {
            ThrowHelper.ThrowOutOfRange(nameof(length), "Length must be positive and addressable.");
        }
    }

    [DoesNotReturn]
    private void ThrowRangeOutside(ulong offset, ulong length) =>
        ThrowHelper.ThrowOutOfRange(nameof(offset), $"Range [0x{offset:x}, +0x{length:x}) is outside the mapping (length 0x{Length:x}).");

    private void ThrowIfDisposed()
    {
        if (_handle.IsClosed)
        {
            ThrowHelper.ThrowObjectDisposed(this);
        }
    }

    private void ThrowIfReadOnly()
    {
        if (!IsWritable)
        {
            throw new InvalidOperationException("The mapping is read-only; map it with MappingAccess.ReadWrite to write.");
        }
    }

    private void AddRef(ref bool added)
    {
        try
        {
            _handle.DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            ThrowHelper.ThrowObjectDisposed(this);
        }
    }

    private void Release(bool added)
    {
        if (added)
        {
            _handle.DangerousRelease();
        }
    }
}
