using System.Buffers.Binary;
using PciKit.Config;
using PciKit.Device;
using PciKit.Devices.Virtio;
using PciKit.Driver;

namespace PciKit.Virtio.Tests;

/// <summary>
/// A minimal virtio 1.x PCI driver written only against <see cref="PciFunction"/>, the way Linux's virtio_pci finds
/// and drives a device: it walks the vendor capabilities to locate the structures, negotiates features, sets up
/// split virtqueues in DMA buffers, notifies, and reads the used ring.
/// </summary>
internal sealed class VirtioTestDriver
{
    public const ushort NoVector = 0xFFFF;

    public VirtioTestDriver(PciFunction function)
    {
        Function = function;
        if (!function.IsOpen) function.Open();
        function.SetDecoding(true);
        function.SetBusMaster(true);
        for (int cap = function.FindCapability(PciCapabilityId.VendorSpecific); cap != 0; cap = function.FindCapability(PciCapabilityId.VendorSpecific, cap))
        {
            byte type = function.ConfigRead8(cap + 3);
            var s = new Structure(function.ConfigRead8(cap + 4), function.ConfigRead32(cap + 8), function.ConfigRead32(cap + 12));
            switch (type)
            {
                case 1: Common = s; break;
                case 2: Notify = s; NotifyMultiplier = function.ConfigRead32(cap + 16); break;
                case 3: Isr = s; break;
                case 4: DeviceCfg = s; break;
                case 5: PciCfgCap = cap; break;
            }
        }
        Assert.True(Common.Length >= 0x38 && Notify.Length > 0 && Isr.Length > 0, "the common, notify and ISR capabilities must all be present");
    }

    public readonly record struct Structure(int Bar, uint Offset, uint Length);

    public PciFunction Function { get; }
    public Structure Common { get; }
    public Structure Notify { get; }
    public Structure Isr { get; }
    public Structure DeviceCfg { get; }
    public uint NotifyMultiplier { get; }
    public int PciCfgCap { get; }

    // ---- common configuration
    public uint Read32(int off) => Function.MemoryRead32(Common.Bar, Common.Offset + (ulong)off);
    public ushort Read16(int off) => Function.MemoryRead16(Common.Bar, Common.Offset + (ulong)off);
    public byte Read8(int off) => Function.MemoryRead8(Common.Bar, Common.Offset + (ulong)off);
    public void Write32(int off, uint v) => Function.MemoryWrite32(Common.Bar, Common.Offset + (ulong)off, v);
    public void Write16(int off, ushort v) => Function.MemoryWrite16(Common.Bar, Common.Offset + (ulong)off, v);
    public void Write8(int off, byte v) => Function.MemoryWrite8(Common.Bar, Common.Offset + (ulong)off, v);

    public VirtioStatus Status
    {
        get => (VirtioStatus)Read8(0x14);
        set => Write8(0x14, (byte)value);
    }

    public ushort NumQueues => Read16(0x12);

    public ulong DeviceFeatures
    {
        get
        {
            Write32(0x00, 0);
            ulong lo = Read32(0x04);
            Write32(0x00, 1);
            return lo | ((ulong)Read32(0x04) << 32);
        }
    }

    public void WriteDriverFeatures(ulong features)
    {
        Write32(0x08, 0);
        Write32(0x0C, (uint)features);
        Write32(0x08, 1);
        Write32(0x0C, (uint)(features >> 32));
    }

    public void Reset()
    {
        Status = 0;
        Assert.Equal(VirtioStatus.None, Status);
    }

    /// <summary>Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK; true when the device kept FEATURES_OK.</summary>
    public bool Negotiate(ulong features)
    {
        Reset();
        Status = VirtioStatus.Acknowledge;
        Status |= VirtioStatus.Driver;
        WriteDriverFeatures(features);
        Status |= VirtioStatus.FeaturesOk;
        return (Status & VirtioStatus.FeaturesOk) != 0;
    }

    public void DriverOk() => Status |= VirtioStatus.DriverOk;

    public ushort ConfigVector
    {
        get => Read16(0x10);
        set => Write16(0x10, value);
    }

    public TestQueue SetupQueue(int index, ushort? size = null, ushort vector = NoVector, bool enable = true)
    {
        Write16(0x16, (ushort)index);
        ushort max = Read16(0x18);
        Assert.NotEqual(0, max);
        ushort n = size ?? max;
        Write16(0x18, n);
        Write16(0x1A, vector);
        var q = new TestQueue(this, index, n, Read16(0x1E));
        Write32(0x20, (uint)q.DescAddress); Write32(0x24, (uint)(q.DescAddress >> 32));
        Write32(0x28, (uint)q.AvailAddress); Write32(0x2C, (uint)(q.AvailAddress >> 32));
        Write32(0x30, (uint)q.UsedAddress); Write32(0x34, (uint)(q.UsedAddress >> 32));
        if (enable) Write16(0x1C, 1);
        return q;
    }

    public void Kick(TestQueue q) => Function.MemoryWrite16(Notify.Bar, Notify.Offset + (ulong)q.NotifyOff * NotifyMultiplier, (ushort)q.Index);

    public byte ReadIsr() => Function.MemoryRead8(Isr.Bar, Isr.Offset);

    public uint DeviceConfig32(int off) => Function.MemoryRead32(DeviceCfg.Bar, DeviceCfg.Offset + (ulong)off);
    public ulong DeviceConfig64(int off) => Function.MemoryRead64(DeviceCfg.Bar, DeviceCfg.Offset + (ulong)off);
    public byte DeviceConfig8(int off) => Function.MemoryRead8(DeviceCfg.Bar, DeviceCfg.Offset + (ulong)off);
    public void WriteDeviceConfig8(int off, byte v) => Function.MemoryWrite8(DeviceCfg.Bar, DeviceCfg.Offset + (ulong)off, v);

    /// <summary>Standard bring-up: negotiate, set up every queue with vectors (MSI-X) or none, DRIVER_OK.</summary>
    public TestQueue[] Start(ulong features, bool msix = false)
    {
        Assert.True(Negotiate(features), "the device refused the features");
        var queues = new TestQueue[NumQueues];
        if (msix) ConfigVector = 0;
        for (int i = 0; i < queues.Length; i++) queues[i] = SetupQueue(i, vector: msix ? (ushort)(i + 1) : NoVector);
        DriverOk();
        return queues;
    }
}

/// <summary>A split virtqueue in the driver's DMA memory, plus a data area for buffers.</summary>
internal sealed class TestQueue
{
    private readonly VirtioTestDriver _driver;
    private readonly DmaBuffer _ring;
    private ushort _nextDesc;
    private ushort _lastUsed;

    public TestQueue(VirtioTestDriver driver, int index, ushort size, ushort notifyOff, ulong dataBytes = 1 << 20)
    {
        _driver = driver;
        Index = index;
        Size = size;
        NotifyOff = notifyOff;
        ulong descBytes = 16UL * size, availBytes = 6 + 2UL * size, usedBytes = 6 + 8UL * size;
        ulong usedOffset = (descBytes + availBytes + 3) & ~3UL;
        _ring = driver.Function.AllocateDmaBuffer(usedOffset + usedBytes);
        DescAddress = _ring.DeviceAddress;
        AvailAddress = _ring.DeviceAddress + descBytes;
        UsedAddress = _ring.DeviceAddress + usedOffset;
        Data = driver.Function.AllocateDmaBuffer(dataBytes);
    }

    public int Index { get; }
    public ushort Size { get; }
    public ushort NotifyOff { get; }
    public ulong DescAddress { get; }
    public ulong AvailAddress { get; }
    public ulong UsedAddress { get; }
    public DmaBuffer Data { get; }
    public ushort AvailIdx { get; private set; }

    private Span<byte> RingAt(ulong address, int length) => _ring.GetSpan(address - _ring.DeviceAddress, length);

    public void SetDescriptor(int i, ulong addr, uint len, ushort flags, ushort next)
    {
        var d = RingAt(DescAddress + 16UL * (ulong)i, 16);
        BinaryPrimitives.WriteUInt64LittleEndian(d, addr);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], len);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], next);
    }

    /// <summary>Writes an indirect table of descriptors at <paramref name="offset"/> of the data area; returns its device address.</summary>
    public ulong WriteIndirectTable(ulong offset, params (ulong Addr, uint Len, ushort Flags, ushort Next)[] entries)
    {
        for (int i = 0; i < entries.Length; i++)
        {
            var d = Data.GetSpan(offset + 16UL * (ulong)i, 16);
            BinaryPrimitives.WriteUInt64LittleEndian(d, entries[i].Addr);
            BinaryPrimitives.WriteUInt32LittleEndian(d[8..], entries[i].Len);
            BinaryPrimitives.WriteUInt16LittleEndian(d[12..], entries[i].Flags);
            BinaryPrimitives.WriteUInt16LittleEndian(d[14..], entries[i].Next);
        }
        return Data.DeviceAddress + offset;
    }

    /// <summary>Places <paramref name="head"/> in the available ring and publishes the new index.</summary>
    public void Publish(ushort head)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(RingAt(AvailAddress + 4 + 2UL * (ulong)(AvailIdx % Size), 2), head);
        AvailIdx++;
        SetAvailIdx(AvailIdx);
    }

    public void SetAvailIdx(ushort idx)
    {
        Interlocked.MemoryBarrier();
        BinaryPrimitives.WriteUInt16LittleEndian(RingAt(AvailAddress + 2, 2), idx);
    }

    public ushort AvailFlags { set => BinaryPrimitives.WriteUInt16LittleEndian(RingAt(AvailAddress, 2), value); }
    public ushort UsedEvent { set => BinaryPrimitives.WriteUInt16LittleEndian(RingAt(AvailAddress + 4 + 2UL * Size, 2), value); }
    public ushort AvailEvent => BinaryPrimitives.ReadUInt16LittleEndian(RingAt(UsedAddress + 4 + 8UL * Size, 2));
    public ushort UsedIdx => BinaryPrimitives.ReadUInt16LittleEndian(RingAt(UsedAddress + 2, 2));

    /// <summary>Builds a chain of direct descriptors for <paramref name="buffers"/> (offsets into <see cref="Data"/>), publishes it, returns the head.</summary>
    public ushort Submit(params (ulong Offset, uint Length, bool Write)[] buffers)
    {
        ushort head = _nextDesc;
        for (int i = 0; i < buffers.Length; i++)
        {
            ushort at = (ushort)((_nextDesc + i) % Size);
            ushort next = (ushort)((at + 1) % Size);
            bool last = i == buffers.Length - 1;
            SetDescriptor(at, Data.DeviceAddress + buffers[i].Offset, buffers[i].Length,
                (ushort)((buffers[i].Write ? 2 : 0) | (last ? 0 : 1)), last ? (ushort)0 : next);
        }
        _nextDesc = (ushort)((_nextDesc + buffers.Length) % Size);
        Publish(head);
        return head;
    }

    /// <summary>Submits, notifies, and returns the used element (fails the test when none arrives).</summary>
    public (uint Id, uint Len) Run(params (ulong Offset, uint Length, bool Write)[] buffers)
    {
        ushort head = Submit(buffers);
        _driver.Kick(this);
        Assert.True(TryTakeUsed(out var id, out var len), $"no used buffer for head {head}; device status {_driver.Status}");
        Assert.Equal(head, id);
        return (id, len);
    }

    public bool TryTakeUsed(out uint id, out uint len)
    {
        id = len = 0;
        if (UsedIdx == _lastUsed) return false;
        var e = RingAt(UsedAddress + 4 + 8UL * (ulong)(_lastUsed % Size), 8);
        id = BinaryPrimitives.ReadUInt32LittleEndian(e);
        len = BinaryPrimitives.ReadUInt32LittleEndian(e[4..]);
        _lastUsed++;
        return true;
    }
}
