using PciKit.Device;

namespace PciKit.Memory;

/// <summary>Access rights of a DMA window.</summary>
[Flags]
public enum DmaAccess
{
    /// <summary>No access.</summary>
    None = 0,
    /// <summary>The device may read.</summary>
    Read = 1,
    /// <summary>The device may write.</summary>
    Write = 2,
    /// <summary>Both.</summary>
    ReadWrite = Read | Write,
}

/// <summary>A window of device-visible (IOVA) address space and what backs it.</summary>
public abstract class DmaWindow
{
    /// <summary>Creates a window at <paramref name="address"/> of <paramref name="length"/> bytes.</summary>
    protected DmaWindow(ulong address, ulong length, DmaAccess access)
    {
        if (length == 0) throw new ArgumentOutOfRangeException(nameof(length), "A DMA window needs at least one byte.");
        if (address + length - 1 < address) throw new ArgumentOutOfRangeException(nameof(length), "The DMA window wraps around the 64-bit address space.");
        Address = address;
        Length = length;
        Access = access;
    }

    /// <summary>First device-visible address.</summary>
    public ulong Address { get; }
    /// <summary>Length in bytes.</summary>
    public ulong Length { get; }
    /// <summary>Last device-visible address (inclusive).</summary>
    public ulong Last => Address + Length - 1;
    /// <summary>What the device may do.</summary>
    public DmaAccess Access { get; }

    private int _inFlight;

    /// <summary>True when no access is using the window (after removal, it is safe to release then).</summary>
    public bool IsIdle => Volatile.Read(ref _inFlight) == 0;

    internal void Enter() => Interlocked.Increment(ref _inFlight);
    internal void Leave() => Interlocked.Decrement(ref _inFlight);

    /// <summary>Copies from <paramref name="offset"/> within the window (already bounds-checked by the space).</summary>
    protected internal abstract bool Read(ulong offset, Span<byte> destination);
    /// <summary>Copies to <paramref name="offset"/> within the window (already bounds-checked by the space).</summary>
    protected internal abstract bool Write(ulong offset, ReadOnlySpan<byte> source);
    private int _released;

    /// <summary>Releases what backs the window (once); call it after the window left its space and is idle.</summary>
    public void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) OnRelease();
    }

    /// <summary>Frees what backs the window; called once by <see cref="Release"/>.</summary>
    protected virtual void OnRelease() { }
}

/// <summary>A DMA window backed by memory this process can address (its own buffers, or another process's memory it mapped).</summary>
public sealed class MemoryDmaWindow : DmaWindow
{
    private readonly bool _ownsMemory;

    /// <summary>Creates the window over <paramref name="memory"/> starting at <paramref name="memoryOffset"/>.</summary>
    public MemoryDmaWindow(ulong address, MemoryBlock memory, ulong memoryOffset, ulong length, DmaAccess access, bool ownsMemory)
        : base(address, length, access)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (!memory.Contains(memoryOffset, length)) throw new ArgumentOutOfRangeException(nameof(length), "The window lies outside the memory that backs it.");
        Memory = memory;
        MemoryOffset = memoryOffset;
        _ownsMemory = ownsMemory;
    }

    /// <summary>The backing memory.</summary>
    public MemoryBlock Memory { get; }
    /// <summary>Offset of the window's first byte in <see cref="Memory"/>.</summary>
    public ulong MemoryOffset { get; }

    /// <inheritdoc />
    protected internal override bool Read(ulong offset, Span<byte> destination)
    {
        Memory.CopyTo(MemoryOffset + offset, destination);
        return true;
    }

    /// <inheritdoc />
    protected internal override bool Write(ulong offset, ReadOnlySpan<byte> source)
    {
        Memory.CopyFrom(MemoryOffset + offset, source);
        return true;
    }

    /// <inheritdoc />
    protected override void OnRelease()
    {
        if (_ownsMemory) Memory.Dispose();
    }
}

/// <summary>
/// Direct access to part of a DMA window backed by process memory (<see cref="DmaAddressSpace.TryPin"/>): the window
/// stays in use — an unmap waits — until <see cref="Dispose"/>, which must be called exactly once.
/// </summary>
public readonly struct DmaPin : IDisposable
{
    private readonly DmaWindow? _window;

    internal DmaPin(DmaWindow window, MemoryBlock memory, ulong offset, int length)
    {
        _window = window;
        Memory = memory;
        Offset = offset;
        Length = length;
    }

    /// <summary>The memory that backs the pinned range.</summary>
    public MemoryBlock Memory { get; }

    /// <summary>Offset of the range in <see cref="Memory"/>.</summary>
    public ulong Offset { get; }

    /// <summary>Length of the range.</summary>
    public int Length { get; }

    /// <summary>The pinned bytes.</summary>
    public Span<byte> Span => Memory.GetSpan(Offset, Length);

    /// <summary>Releases the window (once).</summary>
    public void Dispose() => _window?.Leave();
}

/// <summary>
/// A device's DMA address space: a sorted set of non-overlapping windows. An access that spans adjacent windows is
/// split across them; an access that touches unmapped addresses or a window without the needed right fails as a
/// whole (nothing is copied). Accesses do not hold the space's lock while they copy (a window may be a message
/// channel that takes a round trip): each window counts the accesses in flight. <see cref="TryUnmap"/> waits for
/// them, so once it returns nothing touches the window again; <see cref="TryRemove"/> lets a caller that must keep
/// serving while it waits (a transport's reader thread) do the waiting itself.
/// </summary>
public sealed class DmaAddressSpace : IDmaSpace, IDisposable
{
    private readonly Lock _lock = new();
    private DmaWindow[] _windows = [];

    /// <summary>Number of windows.</summary>
    public int Count => Volatile.Read(ref _windows).Length;

    /// <summary>A snapshot of the windows, sorted by address.</summary>
    public IReadOnlyList<DmaWindow> Windows => Volatile.Read(ref _windows);

    /// <summary>Adds <paramref name="window"/>; false (and nothing changes) if it overlaps an existing window.</summary>
    public bool TryMap(DmaWindow window)
    {
        ArgumentNullException.ThrowIfNull(window);
        using var _ = _lock.EnterScope();
        var windows = _windows;
        int i = LowerBound(windows, window.Address);
        if (i > 0 && windows[i - 1].Last >= window.Address) return false;
        if (i < windows.Length && windows[i].Address <= window.Last) return false;
        var next = new DmaWindow[windows.Length + 1];
        Array.Copy(windows, next, i);
        next[i] = window;
        Array.Copy(windows, i, next, i + 1, windows.Length - i);
        _windows = next;
        return true;
    }

    /// <summary>Removes the window that starts at <paramref name="address"/> with exactly <paramref name="length"/> bytes, waits until no access uses it, and releases it.</summary>
    public bool TryUnmap(ulong address, ulong length)
    {
        if (!TryRemove(address, length, out var removed)) return false;
        SpinWait.SpinUntil(() => removed.IsIdle);
        removed.Release();
        return true;
    }

    /// <summary>
    /// Removes the window that starts at <paramref name="address"/> with exactly <paramref name="length"/> bytes. No
    /// new access can reach it; the caller waits for <see cref="DmaWindow.IsIdle"/> and then calls
    /// <see cref="DmaWindow.Release"/>.
    /// </summary>
    public bool TryRemove(ulong address, ulong length, out DmaWindow removed)
    {
        using var _ = _lock.EnterScope();
        var windows = _windows;
        int i = LowerBound(windows, address);
        if (i >= windows.Length || windows[i].Address != address || windows[i].Length != length)
        {
            removed = null!;
            return false;
        }
        removed = windows[i];
        var next = new DmaWindow[windows.Length - 1];
        Array.Copy(windows, next, i);
        Array.Copy(windows, i + 1, next, i, windows.Length - i - 1);
        _windows = next;
        return true;
    }

    /// <summary>
    /// Removes every window that lies wholly inside [<paramref name="address"/>, +<paramref name="length"/>) — a client
    /// may unmap several adjacent windows at once (QEMU does behind an IOMMU, which maps page by page). Fails, removing
    /// nothing, when no window is inside or when a window straddles either end. The caller waits for each removed window
    /// to be idle and releases it.
    /// </summary>
    public bool TryRemoveRange(ulong address, ulong length, out DmaWindow[] removed)
    {
        removed = [];
        if (length == 0 || address + length - 1 < address) return false;
        ulong last = address + length - 1;
        using var _ = _lock.EnterScope();
        var windows = _windows;
        int first = LowerBound(windows, address);
        if (first > 0 && windows[first - 1].Last >= address) return false; // straddles the start
        int end = first;
        while (end < windows.Length && windows[end].Address <= last)
        {
            if (windows[end].Last > last) return false; // straddles the end
            end++;
        }
        if (end == first) return false;
        removed = windows[first..end];
        var next = new DmaWindow[windows.Length - (end - first)];
        Array.Copy(windows, next, first);
        Array.Copy(windows, end, next, first, windows.Length - end);
        _windows = next;
        return true;
    }

    /// <summary>Removes and releases every window.</summary>
    public void UnmapAll()
    {
        foreach (var w in RemoveAll())
        {
            SpinWait.SpinUntil(() => w.IsIdle);
            w.Release();
        }
    }

    /// <summary>Removes every window and returns them; the caller waits for each to be idle and releases it.</summary>
    public DmaWindow[] RemoveAll()
    {
        using var _ = _lock.EnterScope();
        var removed = _windows;
        _windows = [];
        return removed;
    }

    /// <inheritdoc />
    public bool TryRead(ulong address, Span<byte> destination)
    {
        if (!TryBegin(address, (ulong)destination.Length, DmaAccess.Read, out var windows, out int first, out int last)) return false;
        try
        {
            int done = 0;
            for (int i = first; done < destination.Length; i++)
            {
                var w = windows[i];
                ulong at = address + (ulong)done;
                int n = (int)Math.Min((ulong)(destination.Length - done), w.Last - at + 1);
                if (!w.Read(at - w.Address, destination.Slice(done, n))) return false;
                done += n;
            }
            return true;
        }
        finally
        {
            End(windows, first, last);
        }
    }

    /// <inheritdoc />
    public bool TryWrite(ulong address, ReadOnlySpan<byte> source)
    {
        if (!TryBegin(address, (ulong)source.Length, DmaAccess.Write, out var windows, out int first, out int last)) return false;
        try
        {
            int done = 0;
            for (int i = first; done < source.Length; i++)
            {
                var w = windows[i];
                ulong at = address + (ulong)done;
                int n = (int)Math.Min((ulong)(source.Length - done), w.Last - at + 1);
                if (!w.Write(at - w.Address, source.Slice(done, n))) return false;
                done += n;
            }
            return true;
        }
        finally
        {
            End(windows, first, last);
        }
    }

    /// <summary>
    /// Direct access to [<paramref name="address"/>, +<paramref name="length"/>) when it lies inside one window backed
    /// by memory this process addresses (<see cref="MemoryDmaWindow"/>) that grants <paramref name="need"/>. The window
    /// counts as in use until the pin is disposed, so an unmap waits for it. False (nothing pinned) for ranges that
    /// span windows, message windows or unmapped addresses: the caller then uses <see cref="TryRead"/>/<see cref="TryWrite"/>.
    /// </summary>
    public bool TryPin(ulong address, int length, DmaAccess need, out DmaPin pin)
    {
        pin = default;
        if (length <= 0) return false;
        using var _ = _lock.EnterScope();
        var windows = _windows;
        int i = LowerBound(windows, address + 1) - 1;
        if (i < 0) return false;
        var w = windows[i];
        ulong last = address + (ulong)length - 1;
        if (last < address || last > w.Last || (w.Access & need) != need || w is not MemoryDmaWindow m) return false;
        w.Enter();
        pin = new DmaPin(w, m.Memory, m.MemoryOffset + (address - w.Address), length);
        return true;
    }

    /// <summary>Under the lock: checks coverage and marks the windows [first, last] of the snapshot as in use.</summary>
    private bool TryBegin(ulong address, ulong length, DmaAccess need, out DmaWindow[] windows, out int first, out int last)
    {
        using var _ = _lock.EnterScope();
        windows = _windows;
        last = -1;
        if (!Covers(address, length, need, out first)) return false;
        if (length == 0) { first = 0; return true; }
        ulong end = address + length - 1;
        for (last = first; windows[last].Last < end; last++) { }
        for (int i = first; i <= last; i++) windows[i].Enter();
        return true;
    }

    private static void End(DmaWindow[] windows, int first, int last)
    {
        for (int i = first; i <= last; i++) windows[i].Leave();
    }

    /// <summary>True when every byte of [address, +length) lies in windows that are adjacent and grant <paramref name="need"/>.</summary>
    private bool Covers(ulong address, ulong length, DmaAccess need, out int first)
    {
        var windows = _windows;
        first = LowerBound(windows, address + 1) - 1; // last window starting at or before address
        if (length == 0) return true;
        if (first < 0) return false;
        ulong last = address + length - 1;
        if (last < address) return false; // wraps
        ulong cursor = address;
        for (int i = first; i < windows.Length; i++)
        {
            var w = windows[i];
            if (w.Address > cursor || w.Last < cursor || (w.Access & need) != need) return false;
            if (w.Last >= last) return true;
            cursor = w.Last + 1;
        }
        return false;
    }

    /// <summary>Index of the first window whose address is ≥ <paramref name="address"/>.</summary>
    private static int LowerBound(DmaWindow[] windows, ulong address)
    {
        int lo = 0, hi = windows.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (windows[mid].Address < address) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    /// <summary>Unmaps everything.</summary>
    public void Dispose() => UnmapAll();
}
