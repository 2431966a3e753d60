using System.Buffers.Binary;
using System.Numerics;
using PciKit.Memory;

namespace PciKit.Devices.Virtio.Blk;

/// <summary>Options of a virtio-blk device.</summary>
public sealed record VirtioBlkOptions
{
    /// <summary>The ID string VIRTIO_BLK_T_GET_ID returns (at most 20 bytes of ASCII; Linux shows it as /sys/block/vdX/serial).</summary>
    public string Serial { get; init; } = "pcikit-virtio-blk";

    /// <summary>Logical block size in bytes (VIRTIO_BLK_F_BLK_SIZE): a power of two from 512 to 65536.</summary>
    public int BlockSize { get; init; } = 512;

    /// <summary>
    /// Move data straight between the backend and guest memory when the DMA is mapped memory (vectored file I/O into
    /// pinned guest buffers); false always copies through the device's own buffer. A knob for benchmarks.
    /// </summary>
    public bool ZeroCopy { get; init; } = true;

    /// <summary>Transport options (MSI-X on or off).</summary>
    public VirtioPciOptions Transport { get; init; } = new();
}

/// <summary>
/// virtio-blk (virtio 1.2, 5.2) over a <see cref="BlockBackend"/> (an image file or memory): one request queue of
/// 256 entries; read, write, flush, get-id, write-zeroes and discard; the features Linux's stock virtio_blk
/// negotiates (SEG_MAX, BLK_SIZE, FLUSH, CONFIG_WCE, RO for read-only backends, DISCARD, WRITE_ZEROES, indirect
/// descriptors, EVENT_IDX). A flush returns only after the backend made every completed write durable (fsync for a
/// file); with the write cache turned off (CONFIG_WCE writeback = 0) every write is flushed before it completes.
/// </summary>
/// <remarks>Requests are served inline on the thread that delivers the queue notification, under the device lock.
/// The device owns its backend and disposes it in <see cref="Dispose"/>.</remarks>
public sealed class VirtioBlkDevice : VirtioPciDevice, IDisposable
{
    /// <summary>Size of the request queue.</summary>
    public const ushort QueueSize = 256;
    /// <summary>The sector unit of requests.</summary>
    public const int SectorSize = 512;
    /// <summary>Largest data transfer of one request.</summary>
    public const int MaxRequestBytes = 64 << 20;

    // Feature bits (5.2.3)
    private const int FeatureSegMax = 2, FeatureRo = 5, FeatureBlkSize = 6, FeatureFlush = 9, FeatureConfigWce = 11, FeatureDiscard = 13, FeatureWriteZeroes = 14;
    // Request types (5.2.6)
    private const uint TypeIn = 0, TypeOut = 1, TypeFlush = 4, TypeGetId = 8, TypeDiscard = 11, TypeWriteZeroes = 13;
    private const byte StatusOk = 0, StatusIoErr = 1, StatusUnsupported = 2;
    private const int IdBytes = 20;
    // struct virtio_blk_config offsets
    private const int CfgCapacity = 0x00, CfgSegMax = 0x0C, CfgBlkSize = 0x14, CfgWriteback = 0x20;
    private const int CfgMaxDiscardSectors = 0x24, CfgMaxDiscardSeg = 0x28, CfgDiscardAlignment = 0x2C;
    private const int CfgMaxWriteZeroesSectors = 0x30, CfgMaxWriteZeroesSeg = 0x34, ConfigSize = 0x48;
    private const uint MaxZeroSectors = 1 << 22;

    private readonly BlockBackend _backend;
    private readonly byte[] _id = new byte[IdBytes];
    private readonly byte[] _buffer = GC.AllocateUninitializedArray<byte>(1 << 20);
    private readonly int _blockSize;
    private readonly DmaPin[] _pins = new DmaPin[QueueSize];
    private readonly PinnedSegment[] _segments = [.. Enumerable.Range(0, QueueSize).Select(_ => new PinnedSegment())];
    private readonly List<Memory<byte>> _scatter = new(QueueSize);
    private readonly List<ReadOnlyMemory<byte>> _gather = new(QueueSize);
    private int _pinned, _segmentCount;
    private readonly bool _zeroCopy;
    private bool _disposed;
    private long _reads, _writes, _flushes, _bytesRead, _bytesWritten;

    /// <summary>Creates the device (PCI 1af4:1042, class SCSI storage) over <paramref name="backend"/>, which it then owns.</summary>
    public VirtioBlkDevice(BlockBackend backend, VirtioBlkOptions? options = null)
        : base(VirtioDeviceType.Block, classCode: 0x010000, [QueueSize], Features(backend, options), ConfigSize, (options ?? new()).Transport)
    {
        options ??= new VirtioBlkOptions();
        _backend = backend;
        _blockSize = options.BlockSize;
        _zeroCopy = options.ZeroCopy;
        CapacitySectors = (ulong)backend.Length / SectorSize;
        var serial = System.Text.Encoding.ASCII.GetBytes(options.Serial);
        serial.AsSpan(0, Math.Min(serial.Length, IdBytes)).CopyTo(_id);
        WriteConfig();
    }

    private static ulong Features(BlockBackend backend, VirtioBlkOptions? options)
    {
        ArgumentNullException.ThrowIfNull(backend);
        options ??= new VirtioBlkOptions();
        if (options.BlockSize is < 512 or > 65536 || !BitOperations.IsPow2(options.BlockSize))
            throw new ArgumentOutOfRangeException(nameof(options), options.BlockSize, "The block size is a power of two from 512 to 65536 bytes.");
        if (options.Serial.Any(c => c > 0x7e || c < 0x20)) throw new ArgumentException($"The serial '{options.Serial}' must be printable ASCII.", nameof(options));
        if (options.Serial.Length > IdBytes) throw new ArgumentException($"The serial '{options.Serial}' is longer than {IdBytes} characters.", nameof(options));
        if (backend.Length < options.BlockSize) throw new ArgumentException($"The disk ({backend.Description}, {backend.Length} bytes) is smaller than one {options.BlockSize}-byte block.", nameof(backend));
        ulong f = Bit(FeatureSegMax) | Bit(FeatureBlkSize) | Bit(FeatureFlush) | Bit(FeatureConfigWce) | Bit(FeatureDiscard) | Bit(FeatureWriteZeroes)
            | VirtioFeatures.Bit(VirtioFeatures.IndirectDesc) | VirtioFeatures.Bit(VirtioFeatures.EventIdx);
        if (backend.IsReadOnly) f |= Bit(FeatureRo);
        return f;

        static ulong Bit(int b) => 1UL << b;
    }

    /// <inheritdoc />
    public override string Name => "virtio-blk";

    /// <summary>Disk size in 512-byte sectors.</summary>
    public ulong CapacitySectors { get; }

    /// <summary>The backend.</summary>
    public BlockBackend Backend => _backend;

    /// <summary>The write cache is on (writeback); off means every write is flushed before it completes.</summary>
    public bool WriteCacheEnabled => DeviceConfig[CfgWriteback] != 0;

    /// <summary>Read requests served.</summary>
    public long ReadRequests => Volatile.Read(ref _reads);
    /// <summary>Write requests served.</summary>
    public long WriteRequests => Volatile.Read(ref _writes);
    /// <summary>Flushes served (explicit, or after writes with the write cache off).</summary>
    public long Flushes => Volatile.Read(ref _flushes);
    /// <summary>Bytes read from the backend for the driver.</summary>
    public long BytesRead => Volatile.Read(ref _bytesRead);
    /// <summary>Bytes written to the backend for the driver.</summary>
    public long BytesWritten => Volatile.Read(ref _bytesWritten);

    private void WriteConfig()
    {
        var c = DeviceConfig;
        c.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(c[CfgCapacity..], CapacitySectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[CfgSegMax..], QueueSize - 2);
        BinaryPrimitives.WriteUInt32LittleEndian(c[CfgBlkSize..], (uint)_blockSize);
        c[CfgWriteback] = 1;
        BinaryPrimitives.WriteUInt32LittleEndian(c[CfgMaxDiscardSectors..], MaxZeroSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[CfgMaxDiscardSeg..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(c[CfgDiscardAlignment..], (uint)(_blockSize / SectorSize));
        BinaryPrimitives.WriteUInt32LittleEndian(c[CfgMaxWriteZeroesSectors..], MaxZeroSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[CfgMaxWriteZeroesSeg..], 1);
    }

    /// <inheritdoc />
    protected override void OnVirtioReset() => DeviceConfig[CfgWriteback] = 1;

    /// <inheritdoc />
    protected override void OnDeviceConfigWrite(int offset, int size, ulong value)
    {
        if (offset == CfgWriteback && size == 1 && HasFeature(FeatureConfigWce))
        {
            DeviceConfig[CfgWriteback] = (byte)(value != 0 ? 1 : 0);
            return;
        }
        base.OnDeviceConfigWrite(offset, size, value);
    }

    private enum Outcome { Ok, IoError, Unsupported, DmaFault }

    /// <inheritdoc />
    protected override bool HandleRequest(Virtqueue queue, DescriptorChain chain, out uint written)
    {
        written = 0;
        if (chain.ReadableLength < 16 || chain.WritableLength < 1)
        {
            SetNeedsReset($"virtio-blk request {chain.Head} lacks its 16-byte header or its status byte");
            return false;
        }
        Span<byte> header = stackalloc byte[16];
        if (!chain.Read(0, header))
        {
            SetNeedsReset($"virtio-blk request {chain.Head}: header not readable (DMA)");
            return false;
        }
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(header);
        ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        long inLength = chain.WritableLength - 1, outLength = chain.ReadableLength - 16;
        long transferred = 0;
        var outcome = type switch
        {
            TypeIn => Read(chain, sector, inLength, out transferred),
            TypeOut => Write(chain, sector, outLength),
            TypeFlush => Flush(),
            TypeGetId => GetId(chain, inLength, out transferred),
            TypeWriteZeroes => Zeroes(chain, outLength, write: true),
            TypeDiscard => Zeroes(chain, outLength, write: false),
            _ => Outcome.Unsupported,
        };
        if (outcome == Outcome.DmaFault)
        {
            SetNeedsReset($"virtio-blk request {chain.Head} (type {type}): a data buffer is not reachable (DMA)");
            return false;
        }
        if (outcome == Outcome.Unsupported) LogGuestError($"virtio-blk request type {type} is not supported");
        byte status = outcome switch { Outcome.Ok => StatusOk, Outcome.Unsupported => StatusUnsupported, _ => StatusIoErr };
        if (!chain.Write(inLength, [status]))
        {
            SetNeedsReset($"virtio-blk request {chain.Head}: status byte not writable (DMA)");
            return false;
        }
        written = (uint)(transferred + 1);
        return true;
    }

    private bool InRange(ulong sector, long length, string what, out long offset)
    {
        offset = 0;
        ulong blockSectors = (ulong)(_blockSize / SectorSize);
        if (length > MaxRequestBytes || length % _blockSize != 0 || sector % blockSectors != 0
            || sector > CapacitySectors || (ulong)(length / SectorSize) > CapacitySectors - sector)
        {
            LogGuestError($"virtio-blk {what} of {length} bytes at sector {sector} is outside the disk ({CapacitySectors} sectors) or not aligned to {_blockSize}-byte blocks");
            return false;
        }
        offset = (long)sector * SectorSize;
        return true;
    }

    private Outcome Read(DescriptorChain chain, ulong sector, long length, out long transferred)
    {
        transferred = 0;
        if (!InRange(sector, length, "read", out long offset)) return Outcome.IoError;
        if (TryPinData(chain, writable: true, start: 0, length))
        {
            // Zero copy: the backend reads straight into the guest's buffers (one preadv for a file).
            _scatter.Clear();
            for (int i = 0; i < _segmentCount; i++) _scatter.Add(_segments[i].Memory);
            try { _backend.ReadScatter(offset, _scatter); }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { return BackendFailed("read", e); }
            finally { ReleasePins(); }
        }
        else for (long done = 0; done < length;)
        {
            var chunk = _buffer.AsSpan(0, (int)Math.Min(_buffer.Length, length - done));
            try { _backend.Read(offset + done, chunk); }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { return BackendFailed("read", e); }
            if (!chain.Write(done, chunk)) return Outcome.DmaFault;
            done += chunk.Length;
        }
        _reads++;
        _bytesRead += length;
        transferred = length;
        return Outcome.Ok;
    }

    private Outcome Write(DescriptorChain chain, ulong sector, long length)
    {
        if (_backend.IsReadOnly)
        {
            LogGuestError("virtio-blk write to a read-only disk");
            return Outcome.IoError;
        }
        if (!InRange(sector, length, "write", out long offset)) return Outcome.IoError;
        if (TryPinData(chain, writable: false, start: 16, length))
        {
            _gather.Clear();
            for (int i = 0; i < _segmentCount; i++) _gather.Add(_segments[i].Memory);
            try { _backend.WriteGather(offset, _gather); }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { return BackendFailed("write", e); }
            finally { ReleasePins(); }
        }
        else for (long done = 0; done < length;)
        {
            var chunk = _buffer.AsSpan(0, (int)Math.Min(_buffer.Length, length - done));
            if (!chain.Read(16 + done, chunk)) return Outcome.DmaFault;
            try { _backend.Write(offset + done, chunk); }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { return BackendFailed("write", e); }
            done += chunk.Length;
        }
        _writes++;
        _bytesWritten += length;
        return WriteCacheEnabled ? Outcome.Ok : Flush();
    }

    /// <summary>
    /// Pins the guest memory behind [<paramref name="start"/>, +<paramref name="length"/>) of the chain's writable (or
    /// readable) part, one pin per buffer piece (pieces that follow each other in memory become one segment). False, with nothing held, when any piece cannot be pinned (message
    /// DMA, a piece across windows, unmapped memory — the copying path then reports faults) or the request is empty.
    /// </summary>
    private bool TryPinData(DescriptorChain chain, bool writable, long start, long length)
    {
        _pinned = 0;
        if (length == 0 || !_zeroCopy) return false;
        int end = writable ? chain.BufferCount : chain.ReadableCount;
        long remaining = length;
        for (int i = chain.Locate(writable, start, out long skip); i < end && remaining > 0; i++)
        {
            var (address, size, _) = chain[i];
            int n = (int)Math.Min(size - skip, remaining);
            if (_pinned == _pins.Length || !Dma.TryPin(address + (ulong)skip, n, writable, out var pin))
            {
                ReleasePins();
                return false;
            }
            _pins[_pinned++] = pin;
            if (_segmentCount == 0 || !_segments[_segmentCount - 1].TryExtend(pin)) _segments[_segmentCount++].Set(pin);
            remaining -= n;
            skip = 0;
        }
        if (remaining == 0) return true;
        ReleasePins();
        return false;
    }

    private void ReleasePins()
    {
        for (int i = 0; i < _segmentCount; i++) _segments[i].Clear();
        for (int i = 0; i < _pinned; i++)
        {
            _pins[i].Dispose();
            _pins[i] = default;
        }
        _pinned = _segmentCount = 0;
    }

    private Outcome Flush()
    {
        try { _backend.Flush(); }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { return BackendFailed("flush", e); }
        _flushes++;
        return Outcome.Ok;
    }

    private Outcome GetId(DescriptorChain chain, long length, out long transferred)
    {
        int n = (int)Math.Min(IdBytes, length);
        transferred = 0;
        if (!chain.Write(0, _id.AsSpan(0, n))) return Outcome.DmaFault;
        transferred = n;
        return Outcome.Ok;
    }

    /// <summary>WRITE_ZEROES writes zeros; DISCARD is a hint this device honours by doing nothing (5.2.6.2 lets it).</summary>
    private Outcome Zeroes(DescriptorChain chain, long length, bool write)
    {
        Span<byte> seg = stackalloc byte[16];
        if (length != 16)
        {
            LogGuestError($"virtio-blk {(write ? "write-zeroes" : "discard")} with {length} bytes of segments (one 16-byte segment is allowed)");
            return Outcome.IoError;
        }
        if (!chain.Read(16, seg)) return Outcome.DmaFault;
        ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(seg);
        uint sectors = BinaryPrimitives.ReadUInt32LittleEndian(seg[8..]);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(seg[12..]);
        if (sectors > MaxZeroSectors || (flags & ~1u) != 0 || (!write && flags != 0))
        {
            LogGuestError($"virtio-blk {(write ? "write-zeroes" : "discard")} of {sectors} sectors with flags 0x{flags:x} is not allowed");
            return Outcome.Unsupported;
        }
        if (!write) return Outcome.Ok;
        if (_backend.IsReadOnly) return Outcome.IoError;
        long bytes = (long)sectors * SectorSize;
        if (bytes % _blockSize != 0 || sector % (ulong)(_blockSize / SectorSize) != 0 || sector > CapacitySectors || sectors > CapacitySectors - sector)
        {
            LogGuestError($"virtio-blk write-zeroes of {sectors} sectors at {sector} is outside the disk or unaligned");
            return Outcome.IoError;
        }
        long offset = (long)sector * SectorSize;
        _buffer.AsSpan().Clear();
        for (long done = 0; done < bytes;)
        {
            var chunk = _buffer.AsSpan(0, (int)Math.Min(_buffer.Length, bytes - done));
            try { _backend.Write(offset + done, chunk); }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { return BackendFailed("write-zeroes", e); }
            done += chunk.Length;
        }
        _bytesWritten += bytes;
        return WriteCacheEnabled ? Outcome.Ok : Flush();
    }

    private Outcome BackendFailed(string what, Exception e)
    {
        LogGuestError($"virtio-blk {what} on {_backend.Description} failed: {e.Message}");
        return Outcome.IoError;
    }

    /// <summary>Closes the backend (the device then answers every request with an I/O error).</summary>
    public void Dispose()
    {
        using var _ = SyncRoot.EnterScope();
        if (_disposed) return;
        _disposed = true;
        _backend.Dispose();
    }
}
