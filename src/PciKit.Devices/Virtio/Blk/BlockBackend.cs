using Microsoft.Win32.SafeHandles;
using PciKit.Memory;

namespace PciKit.Devices.Virtio.Blk;

/// <summary>
/// The storage behind a block device: byte-addressed reads and writes, and a flush that returns once every
/// completed write is durable. Accessed under the device lock only (one request at a time).
/// </summary>
public abstract class BlockBackend : IDisposable
{
    /// <summary>Size in bytes.</summary>
    public abstract long Length { get; }

    /// <summary>Writes are refused.</summary>
    public abstract bool IsReadOnly { get; }

    /// <summary>What backs the device, for logs.</summary>
    public abstract string Description { get; }

    /// <summary>Reads <paramref name="destination"/>.Length bytes at <paramref name="offset"/>; throws <see cref="IOException"/> on failure.</summary>
    public abstract void Read(long offset, Span<byte> destination);

    /// <summary>Writes <paramref name="source"/> at <paramref name="offset"/>; throws <see cref="IOException"/> on failure.</summary>
    public abstract void Write(long offset, ReadOnlySpan<byte> source);

    /// <summary>Makes every completed write durable; throws <see cref="IOException"/> on failure.</summary>
    public abstract void Flush();

    /// <summary>Reads consecutive bytes from <paramref name="offset"/> into <paramref name="buffers"/> in order (a scatter list). The default reads each buffer in turn.</summary>
    public virtual void ReadScatter(long offset, IReadOnlyList<Memory<byte>> buffers)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        for (int i = 0; i < buffers.Count; i++)
        {
            Read(offset, buffers[i].Span);
            offset += buffers[i].Length;
        }
    }

    /// <summary>Writes <paramref name="buffers"/> in order as consecutive bytes from <paramref name="offset"/> (a gather list). The default writes each buffer in turn.</summary>
    public virtual void WriteGather(long offset, IReadOnlyList<ReadOnlyMemory<byte>> buffers)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        for (int i = 0; i < buffers.Count; i++)
        {
            Write(offset, buffers[i].Span);
            offset += buffers[i].Length;
        }
    }

    /// <summary>Releases the storage.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the storage.</summary>
    protected virtual void Dispose(bool disposing) { }
}

/// <summary>A disk image file, read and written in place with positional I/O; a flush is fsync.</summary>
public sealed class FileBlockBackend : BlockBackend
{
    private readonly FileStream _stream;
    private readonly SafeFileHandle _handle;
    private readonly string _path;

    private FileBlockBackend(FileStream stream, string path, bool readOnly)
    {
        _stream = stream;
        _handle = stream.SafeFileHandle;
        _path = path;
        IsReadOnly = readOnly;
    }

    /// <summary>
    /// Opens the image at <paramref name="path"/> (it must exist; its size is the disk's size, rounded down to whole
    /// 512-byte sectors). Throws <see cref="FileNotFoundException"/>, <see cref="UnauthorizedAccessException"/> or
    /// <see cref="IOException"/> with a message naming the file.
    /// </summary>
    public static FileBlockBackend Open(string path, bool readOnly = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"Disk image {full} does not exist; create it first (e.g. truncate -s 64M {path}).", full);
        try
        {
            var stream = new FileStream(full, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
            return new FileBlockBackend(stream, full, readOnly);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException($"Cannot open disk image {full} for {(readOnly ? "reading" : "reading and writing")}: {e.Message}{(readOnly ? "" : " (use a read-only disk if the file is read-only)")}", e);
        }
        catch (IOException e)
        {
            throw new IOException($"Cannot open disk image {full}: {e.Message}", e);
        }
    }

    /// <inheritdoc />
    public override long Length => RandomAccess.GetLength(_handle);

    /// <inheritdoc />
    public override bool IsReadOnly { get; }

    /// <inheritdoc />
    public override string Description => _path;

    /// <inheritdoc />
    public override void Read(long offset, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            int n = RandomAccess.Read(_handle, destination, offset);
            if (n == 0)
            {
                destination.Clear(); // past the end of a file that shrank: zeros
                return;
            }
            destination = destination[n..];
            offset += n;
        }
    }

    /// <inheritdoc />
    public override void Write(long offset, ReadOnlySpan<byte> source) => RandomAccess.Write(_handle, source, offset);

    /// <summary>One preadv (one pread for one buffer); bytes past the end of a file that shrank read as zeros.</summary>
    public override void ReadScatter(long offset, IReadOnlyList<Memory<byte>> buffers)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        if (buffers.Count == 1)
        {
            Read(offset, buffers[0].Span); // the span overload allocates nothing
            return;
        }
        long got = RandomAccess.Read(_handle, buffers, offset);
        for (int i = 0; i < buffers.Count; i++)
        {
            int len = buffers[i].Length;
            if (got < len) buffers[i].Span[(int)Math.Max(got, 0)..].Clear();
            got -= len;
        }
    }

    /// <summary>One pwritev (one pwrite for one buffer).</summary>
    public override void WriteGather(long offset, IReadOnlyList<ReadOnlyMemory<byte>> buffers)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        if (buffers.Count == 1) Write(offset, buffers[0].Span);
        else RandomAccess.Write(_handle, buffers, offset);
    }

    /// <inheritdoc />
    public override void Flush()
    {
        if (!IsReadOnly) _stream.Flush(flushToDisk: true);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) _stream.Dispose();
    }
}

/// <summary>A disk in memory (a <see cref="MemoryBlock"/>); a flush has nothing to do.</summary>
public sealed class MemoryBlockBackend : BlockBackend
{
    private readonly MemoryBlock _memory;
    private readonly bool _owns;

    /// <summary>Serves <paramref name="memory"/> as a disk; disposes it with the backend when <paramref name="owns"/>.</summary>
    public MemoryBlockBackend(MemoryBlock memory, bool owns = true, bool readOnly = false)
    {
        ArgumentNullException.ThrowIfNull(memory);
        _memory = memory;
        _owns = owns;
        IsReadOnly = readOnly;
    }

    /// <summary>A zeroed in-memory disk of <paramref name="length"/> bytes from <paramref name="allocator"/> (process memory by default).</summary>
    public static MemoryBlockBackend Create(long length, IMemoryAllocator? allocator = null, bool readOnly = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        return new MemoryBlockBackend((allocator ?? HeapMemoryAllocator.Instance).Allocate("pcikit-virtio-blk", (ulong)length), owns: true, readOnly);
    }

    /// <inheritdoc />
    public override long Length => (long)_memory.Length;

    /// <inheritdoc />
    public override bool IsReadOnly { get; }

    /// <inheritdoc />
    public override string Description => $"memory ({_memory.Length} bytes)";

    /// <summary>The memory.</summary>
    public MemoryBlock Memory => _memory;

    /// <inheritdoc />
    public override void Read(long offset, Span<byte> destination) => _memory.CopyTo((ulong)offset, destination);

    /// <inheritdoc />
    public override void Write(long offset, ReadOnlySpan<byte> source) => _memory.CopyFrom((ulong)offset, source);

    /// <inheritdoc />
    public override void Flush() { }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && _owns) _memory.Dispose();
    }
}
