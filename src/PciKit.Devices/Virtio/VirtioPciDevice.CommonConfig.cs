namespace PciKit.Devices.Virtio;

public abstract partial class VirtioPciDevice
{
    // struct virtio_pci_common_cfg (virtio 1.2, 4.1.4.3)
    private const int DeviceFeatureSelect = 0x00, DeviceFeature = 0x04, DriverFeatureSelect = 0x08, DriverFeature = 0x0C;
    private const int ConfigMsixVector = 0x10, NumQueues = 0x12, DeviceStatus = 0x14, ConfigGeneration = 0x15;
    private const int QueueSelect = 0x16, QueueSize = 0x18, QueueMsixVector = 0x1A, QueueEnable = 0x1C, QueueNotifyOff = 0x1E;
    private const int QueueDesc = 0x20, QueueDriver = 0x28, QueueDevice = 0x30, QueueNotifyData = 0x38, QueueReset = 0x3A;

    private uint _deviceFeatureSelect, _driverFeatureSelect;
    private ulong _driverFeatures, _negotiated;
    private ushort _configVector, _queueSelect;
    private VirtioStatus _status;
    private byte _generation;

    /// <summary>The device status register.</summary>
    public VirtioStatus Status
    {
        get { using var _ = SyncRoot.EnterScope(); return _status; }
    }

    /// <summary>The features accepted at FEATURES_OK (0 before).</summary>
    public ulong NegotiatedFeatures
    {
        get { using var _ = SyncRoot.EnterScope(); return _negotiated; }
    }

    /// <summary>True when feature <paramref name="bit"/> was negotiated.</summary>
    protected bool HasFeature(int bit) => (_negotiated & VirtioFeatures.Bit(bit)) != 0;

    /// <summary>The MSI-X vector for configuration changes (0xFFFF: none).</summary>
    public ushort ConfigMsixVectorValue => _configVector;

    private Virtqueue? SelectedQueue => _queueSelect < _queues.Length ? _queues[_queueSelect] : null;

    private ulong ReadCommon(ulong offset, int size)
    {
        var q = SelectedQueue;
        switch ((int)offset, size)
        {
            case (DeviceFeatureSelect, 4): return _deviceFeatureSelect;
            case (DeviceFeature, 4): return _deviceFeatureSelect switch { 0 => (uint)DeviceFeatures, 1 => (uint)(DeviceFeatures >> 32), _ => 0 };
            case (DriverFeatureSelect, 4): return _driverFeatureSelect;
            case (DriverFeature, 4): return _driverFeatureSelect switch { 0 => (uint)_driverFeatures, 1 => (uint)(_driverFeatures >> 32), _ => 0 };
            case (ConfigMsixVector, 2): return _configVector;
            case (NumQueues, 2): return (ulong)_queues.Length;
            case (DeviceStatus, 1): return (byte)_status;
            case (ConfigGeneration, 1): return _generation;
            case (QueueSelect, 2): return _queueSelect;
            case (QueueSize, 2): return q?.Size ?? 0;
            case (QueueMsixVector, 2): return q?.MsixVector ?? NoVector;
            case (QueueEnable, 2): return q?.Enabled == true ? 1u : 0u;
            case (QueueNotifyOff, 2): return q is null ? 0 : (ulong)q.Index;
            case (QueueDesc, 8): return q?.DescriptorArea ?? 0;
            case (QueueDesc, 4): return (uint)(q?.DescriptorArea ?? 0);
            case (QueueDesc + 4, 4): return (q?.DescriptorArea ?? 0) >> 32;
            case (QueueDriver, 8): return q?.DriverArea ?? 0;
            case (QueueDriver, 4): return (uint)(q?.DriverArea ?? 0);
            case (QueueDriver + 4, 4): return (q?.DriverArea ?? 0) >> 32;
            case (QueueDevice, 8): return q?.DeviceArea ?? 0;
            case (QueueDevice, 4): return (uint)(q?.DeviceArea ?? 0);
            case (QueueDevice + 4, 4): return (q?.DeviceArea ?? 0) >> 32;
            case (QueueNotifyData, 2): return 0; // VIRTIO_F_NOTIF_CONFIG_DATA is not offered
            case (QueueReset, 2): return 0;      // VIRTIO_F_RING_RESET is not offered
            default:
                LogGuestError($"common configuration read of {size} bytes at 0x{offset:x} matches no field (fields are read at their natural width)");
                return 0;
        }
    }

    private void WriteCommon(ulong offset, int size, ulong value)
    {
        var q = SelectedQueue;
        switch ((int)offset, size)
        {
            case (DeviceFeatureSelect, 4): _deviceFeatureSelect = (uint)value; return;
            case (DriverFeatureSelect, 4): _driverFeatureSelect = (uint)value; return;
            case (DriverFeature, 4): WriteDriverFeatures((uint)value); return;
            case (ConfigMsixVector, 2): _configVector = CheckVector((ushort)value); return;
            case (DeviceStatus, 1): WriteStatus((byte)value); return;
            case (QueueSelect, 2): _queueSelect = (ushort)value; return;
            case (QueueMsixVector, 2): if (q is not null) q.MsixVector = CheckVector((ushort)value); return;
            case (QueueEnable, 2): EnableQueue(q, (ushort)value); return;
            case (QueueSize, 2): if (ConfigurableQueue(q, "queue_size")) q!.Size = (ushort)value; return;
            case (QueueDesc, 8): if (ConfigurableQueue(q, "queue_desc")) q!.DescriptorArea = value; return;
            case (QueueDesc, 4): if (ConfigurableQueue(q, "queue_desc")) q!.DescriptorArea = Low(q.DescriptorArea, value); return;
            case (QueueDesc + 4, 4): if (ConfigurableQueue(q, "queue_desc")) q!.DescriptorArea = High(q.DescriptorArea, value); return;
            case (QueueDriver, 8): if (ConfigurableQueue(q, "queue_driver")) q!.DriverArea = value; return;
            case (QueueDriver, 4): if (ConfigurableQueue(q, "queue_driver")) q!.DriverArea = Low(q.DriverArea, value); return;
            case (QueueDriver + 4, 4): if (ConfigurableQueue(q, "queue_driver")) q!.DriverArea = High(q.DriverArea, value); return;
            case (QueueDevice, 8): if (ConfigurableQueue(q, "queue_device")) q!.DeviceArea = value; return;
            case (QueueDevice, 4): if (ConfigurableQueue(q, "queue_device")) q!.DeviceArea = Low(q.DeviceArea, value); return;
            case (QueueDevice + 4, 4): if (ConfigurableQueue(q, "queue_device")) q!.DeviceArea = High(q.DeviceArea, value); return;
            default:
                LogGuestError($"common configuration write of {size} bytes at 0x{offset:x} (value 0x{value:x}) matches no writable field");
                return;
        }

        static ulong Low(ulong current, ulong value) => (current & 0xFFFF_FFFF_0000_0000) | (uint)value;
        static ulong High(ulong current, ulong value) => (current & 0xFFFF_FFFF) | ((ulong)(uint)value << 32);
    }

    private bool ConfigurableQueue(Virtqueue? q, string field)
    {
        if (q is null)
        {
            LogGuestError($"{field} written while queue_select ({_queueSelect}) names no queue");
            return false;
        }
        if (q.Enabled)
        {
            LogGuestError($"{field} of queue {q.Index} written while the queue is enabled; ignored");
            return false;
        }
        return true;
    }

    private ushort CheckVector(ushort vector)
    {
        if (vector == NoVector) return NoVector;
        if (MsiX is null || vector >= MsiX.Vectors)
        {
            LogGuestError($"MSI-X vector {vector} does not exist; the register reads NO_VECTOR");
            return NoVector;
        }
        return vector;
    }

    private void WriteDriverFeatures(uint value)
    {
        if ((_status & VirtioStatus.FeaturesOk) != 0)
        {
            LogGuestError("driver_feature written after FEATURES_OK; ignored");
            return;
        }
        switch (_driverFeatureSelect)
        {
            case 0: _driverFeatures = (_driverFeatures & 0xFFFF_FFFF_0000_0000) | value; break;
            case 1: _driverFeatures = (_driverFeatures & 0xFFFF_FFFF) | ((ulong)value << 32); break;
            default:
                if (value != 0) LogGuestError($"driver_feature bits 0x{value:x} in word {_driverFeatureSelect}, where the device offers none");
                break;
        }
    }

    private void WriteStatus(byte value)
    {
        if (value == 0)
        {
            _driverResets++;
            ResetTransport();
            return;
        }
        var old = _status;
        var next = ((VirtioStatus)value & ~VirtioStatus.DeviceNeedsReset) | (old & VirtioStatus.DeviceNeedsReset);
        if ((next & VirtioStatus.FeaturesOk) != 0 && (old & VirtioStatus.FeaturesOk) == 0 && !NegotiateFeatures())
            next &= ~VirtioStatus.FeaturesOk;
        if ((next & VirtioStatus.DriverOk) != 0 && (old & VirtioStatus.DriverOk) == 0 && (next & VirtioStatus.FeaturesOk) == 0)
            LogGuestError("DRIVER_OK set without FEATURES_OK");
        _status = next;
        if ((next & VirtioStatus.DriverOk) != 0 && (old & VirtioStatus.DriverOk) == 0)
        {
            // Buffers made available before DRIVER_OK are consumed now (the device must not touch them earlier).
            foreach (var q in _queues)
                if (q.Enabled) ServiceQueue(q);
        }
    }

    private bool NegotiateFeatures()
    {
        ulong features = _driverFeatures;
        string? reason = null;
        if ((features & ~DeviceFeatures) != 0) reason = $"driver features 0x{features:x} include bits the device does not offer (0x{features & ~DeviceFeatures:x})";
        else if ((features & VirtioFeatures.Bit(VirtioFeatures.Version1)) == 0) reason = "the driver did not accept VIRTIO_F_VERSION_1 (this is a modern-only device)";
        else if (!AcceptFeatures(features, out reason)) reason ??= "the device refused the feature combination";
        if (reason is not null)
        {
            LogGuestError($"FEATURES_OK not kept: {reason}");
            return false;
        }
        _negotiated = features;
        bool eventIdx = HasFeature(VirtioFeatures.EventIdx), indirect = HasFeature(VirtioFeatures.IndirectDesc);
        foreach (var q in _queues)
        {
            q.EventIdx = eventIdx;
            q.IndirectAllowed = indirect;
        }
        return true;
    }

    private void EnableQueue(Virtqueue? q, ushort value)
    {
        if (q is null)
        {
            LogGuestError($"queue_enable written while queue_select ({_queueSelect}) names no queue");
            return;
        }
        if (value != 1)
        {
            LogGuestError($"queue_enable of queue {q.Index} written with {value} (only 1 is allowed; a reset disables queues)");
            return;
        }
        if (q.Enabled) return;
        if (q.CheckLayout() is { } bad)
        {
            SetNeedsReset($"queue {q.Index} cannot be enabled: {bad}");
            return;
        }
        q.Enabled = true;
    }

    /// <summary>Back to the state after power-on: status 0, no features, queues disabled, ISR clear, vectors unassigned.</summary>
    private void ResetTransport()
    {
        _status = VirtioStatus.None;
        _deviceFeatureSelect = _driverFeatureSelect = 0;
        _driverFeatures = _negotiated = 0;
        _configVector = NoVector;
        _queueSelect = 0;
        foreach (var q in _queues) q.Reset();
        ClearIsr();
        OnVirtioReset();
    }

    /// <summary>
    /// Marks the device DEVICE_NEEDS_RESET (a guest error it cannot recover from), logs <paramref name="reason"/>,
    /// stops serving queues, and sends a configuration change notification. Only a reset clears it.
    /// </summary>
    protected void SetNeedsReset(string reason)
    {
        if ((_status & VirtioStatus.DeviceNeedsReset) != 0) return;
        _needsResetEvents++;
        LastFault = reason;
        LogGuestError($"device needs reset: {reason}");
        if (_status == VirtioStatus.None)
            return; // not initialised: nothing to stop, and the driver's next reset starts over
        _status |= VirtioStatus.DeviceNeedsReset;
        SignalConfigChange();
    }

    /// <summary>Tells the driver the device configuration changed: bumps config_generation and signals the config vector (or INTx).</summary>
    protected void NotifyConfigChange()
    {
        _generation++;
        if ((_status & VirtioStatus.DriverOk) != 0) SignalConfigChange();
    }
}
