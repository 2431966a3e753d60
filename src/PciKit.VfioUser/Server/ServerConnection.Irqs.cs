using PciKit.Linux;
using PciKit.VfioUser.Protocol;

namespace PciKit.VfioUser.Server;

internal sealed partial class ServerConnection
{
    private int HandleIrqInfo(ReadOnlySpan<byte> payload, ref int length, out string? why)
    {
        why = null;
        if (!IrqInfo.TryParse(payload, out var request, out var error)) return Refuse(error.Errno, error.Message, out why!);
        if (request.Index >= VfioPciIrq.Count) return Refuse(LinuxErrno.EINVAL, $"IRQ index {request.Index} does not exist (0 INTx, 1 MSI, 2 MSI-X, 3 ERR, 4 REQ)", out why!);
        length = new IrqInfo(IrqInfo.Size16, _irqs.Flags(request.Index), request.Index, (uint)_irqs.Count(request.Index)).Write(_reply);
        return 0;
    }

    private int HandleSetIrqs(ReadOnlySpan<byte> payload, IFdSource fds, out string? why)
    {
        why = null;
        if (!SetIrqsRequest.TryParse(payload, out var request, out var error)) return Refuse(error.Errno, error.Message, out why!);
        if (request.Index >= VfioPciIrq.Count) return Refuse(LinuxErrno.EINVAL, $"IRQ index {request.Index} does not exist", out why!);
        uint flags = request.Flags;
        bool eventfd = (flags & SetIrqsRequest.DataEventFd) != 0, none = (flags & SetIrqsRequest.DataNone) != 0;
        bool trigger = (flags & SetIrqsRequest.ActionTrigger) != 0, mask = (flags & SetIrqsRequest.ActionMask) != 0;
        int available = _irqs.Count(request.Index);
        if (!eventfd && fds.Count > 0) return Refuse(LinuxErrno.EINVAL, "fds sent without DATA_EVENTFD", out why!);
        if (request.Count == 0)
        {
            if (!(none && trigger)) return Refuse(LinuxErrno.EINVAL, "count 0 is only valid with DATA_NONE|ACTION_TRIGGER (disable the index)", out why!);
            EnterDevice();
            try { _irqs.DetachAll(request.Index); }
            finally { _device.SyncRoot.Exit(); }
            return 0;
        }
        if (request.Start >= available || request.Count > available - request.Start)
            return Refuse(LinuxErrno.EINVAL, $"vectors [{request.Start}, +{request.Count}) exceed the {available} of IRQ index {request.Index}", out why!);
        if (eventfd)
        {
            if (!trigger) return Refuse(LinuxErrno.EINVAL, "DATA_EVENTFD goes with ACTION_TRIGGER", out why!);
            // QEMU sends a run of "no eventfd" (-1) vectors as DATA_EVENTFD with count N and no fds: detach those vectors
            // (e.g. it enables MSI-X with vector 0 unassigned). Otherwise there is one fd per vector.
            if (fds.Count != 0 && fds.Count != request.Count) return Refuse(LinuxErrno.EINVAL, $"DATA_EVENTFD with count {request.Count} carried {fds.Count} fds (send one per vector, or none to unassign)", out why!);
        }
        EnterDevice();
        try
        {
            for (int i = 0; i < (int)request.Count; i++)
            {
                int vector = (int)request.Start + i;
                bool selected = (flags & SetIrqsRequest.DataBool) == 0 || request.BoolData[i] != 0;
                if (eventfd && fds.Count == 0) _irqs.Detach(request.Index, vector);
                else if (eventfd) _irqs.Attach(request.Index, vector, EventFd.FromHandle(fds.Take(i)));
                else if (!selected) continue;
                else if (trigger) _irqs.Trigger(request.Index, vector);
                else if (mask) _irqs.Mask(request.Index, vector);
                else _irqs.Unmask(request.Index, vector);
            }
        }
        finally
        {
            _device.SyncRoot.Exit();
        }
        return 0;
    }
}
