using PciKit.Device;
using PciKit.Driver;

namespace PciKit.Host;

public sealed partial class PciHostBus
{
    /// <summary>One slot: the device, its session claim and its INTx route. Also the device's interrupt sink.</summary>
    internal sealed class Slot(PciHostBus bus, PciAddress address, PciDevice device) : IInterruptSink
    {
        private IInterruptReceiver? _intx;
        private bool _line;
        private int _claimed;

        public PciHostBus Bus { get; } = bus;
        public PciAddress Address { get; } = address;
        public PciDevice Device { get; } = device;

        public bool TryClaim() => Interlocked.CompareExchange(ref _claimed, 1, 0) == 0;
        public void Release() => Volatile.Write(ref _claimed, 0);

        public void RouteIntx(IInterruptReceiver? receiver)
        {
            using var _ = Device.SyncRoot.EnterScope();
            _intx = receiver;
            if (receiver is not null && _line) receiver.Signal(0); // already asserted: the driver sees it
        }

        public void SetIntx(bool asserted)
        {
            bool rising = asserted && !_line;
            _line = asserted;
            if (rising) _intx?.Signal(0);
        }

        public void SendMessage(in MsiMessage message) => Bus.DeliverMessage(this, message);
    }

    /// <summary>Maps message data values to (receiver, vector), like an interrupt controller's vector table.</summary>
    private sealed class MsiRouter
    {
        private const int FirstVector = 0x20, LastVector = 0xFFFF;
        private readonly Lock _lock = new();
        private readonly Dictionary<uint, (Slot Slot, PciInterruptKind Kind, IInterruptReceiver Receiver, int Vector)> _routes = [];
        public long Spurious;

        public uint Allocate(Slot slot, PciInterruptKind kind, IInterruptReceiver receiver, int count, bool aligned)
        {
            using var _ = _lock.EnterScope();
            int step = aligned ? count : 1;
            for (int start = (FirstVector + step - 1) / step * step; start + count - 1 <= LastVector; start += step)
            {
                bool free = true;
                for (int i = 0; i < count && free; i++) free = !_routes.ContainsKey((uint)(start + i));
                if (!free) continue;
                for (int i = 0; i < count; i++) _routes[(uint)(start + i)] = (slot, kind, receiver, i);
                return (uint)start;
            }
            throw new InvalidOperationException($"The host's interrupt controller has no {count} free vectors.");
        }

        public void Remove(Slot slot, PciInterruptKind kind)
        {
            using var _ = _lock.EnterScope();
            foreach (var key in _routes.Where(r => r.Value.Slot == slot && r.Value.Kind == kind).Select(r => r.Key).ToList())
                _routes.Remove(key);
        }

        public void RemoveAll(Slot slot)
        {
            Remove(slot, PciInterruptKind.Msi);
            Remove(slot, PciInterruptKind.MsiX);
        }

        public bool TryDeliver(uint data)
        {
            IInterruptReceiver receiver;
            int vector;
            using (_lock.EnterScope())
            {
                if (!_routes.TryGetValue(data, out var route)) return false;
                (receiver, vector) = (route.Receiver, route.Vector);
            }
            receiver.Signal(vector);
            return true;
        }
    }

    internal IReadOnlyList<MsiMessage> Attach(Slot slot, PciInterruptKind kind, int count, IInterruptReceiver receiver)
    {
        if (kind == PciInterruptKind.Intx)
        {
            slot.RouteIntx(receiver);
            return [];
        }
        _msi.Remove(slot, kind);
        uint first = _msi.Allocate(slot, kind, receiver, count, aligned: kind == PciInterruptKind.Msi);
        var messages = new MsiMessage[count];
        for (int i = 0; i < count; i++) messages[i] = new MsiMessage(kind, i, MsiAddressBase, first + (uint)i);
        return messages;
    }

    internal void Detach(Slot slot, PciInterruptKind kind)
    {
        if (kind == PciInterruptKind.Intx) slot.RouteIntx(null);
        else _msi.Remove(slot, kind);
    }
}
