using PciKit.Capabilities;
using PciKit.Config;

namespace PciKit.Device;

/// <summary>Interrupt mechanisms of a PCI function.</summary>
public enum PciInterruptKind
{
    /// <summary>Level-triggered INTx pin.</summary>
    Intx = 0,
    /// <summary>Message Signalled Interrupts.</summary>
    Msi = 1,
    /// <summary>MSI-X.</summary>
    MsiX = 2,
}

/// <summary>An MSI or MSI-X message as the function emits it: the memory write (address, data) and the vector it came from.</summary>
/// <param name="Kind"><see cref="PciInterruptKind.Msi"/> or <see cref="PciInterruptKind.MsiX"/>.</param>
/// <param name="Vector">The vector index within the capability.</param>
/// <param name="Address">The message address.</param>
/// <param name="Data">The message data.</param>
public readonly record struct MsiMessage(PciInterruptKind Kind, int Vector, ulong Address, uint Data);

/// <summary>
/// Where a device's interrupts go, supplied by whoever hosts the device (the in-process host bus, a vfio-user server,
/// a proxy). Called under the device lock: implementations must not block (write an eventfd or call a handler).
/// </summary>
public interface IInterruptSink
{
    /// <summary>The effective INTx line changed (already gated by Interrupt Disable and by MSI/MSI-X being enabled).</summary>
    void SetIntx(bool asserted);

    /// <summary>The function emitted an MSI or MSI-X message.</summary>
    void SendMessage(in MsiMessage message);
}

/// <summary>
/// The device side of interrupts: INTx level, MSI and MSI-X signalling with the enable, mask and pending rules of
/// the specification. Every method must be called with the device lock held (device handlers already run under it).
/// </summary>
public sealed class InterruptController
{
    private readonly PciDevice _device;
    private IInterruptSink? _sink;
    private bool _level;
    private bool _output;

    internal InterruptController(PciDevice device) => _device = device;

    /// <summary>The device's internal INTx level (what the Status register's Interrupt Status bit shows).</summary>
    public bool IntxLevel => _level;

    /// <summary>The INTx line as seen outside the function: level, unless Interrupt Disable is set or MSI/MSI-X is enabled.</summary>
    public bool IntxAsserted => _output;

    /// <summary>MSI is present and enabled.</summary>
    public bool MsiEnabled => _device.Msi?.Enabled == true;

    /// <summary>MSI-X is present and enabled.</summary>
    public bool MsiXEnabled => _device.MsiX?.Enabled == true;

    /// <summary>Sets the device's INTx level. The Status register's Interrupt Status bit follows it.</summary>
    public void SetIntx(bool asserted)
    {
        if (_device.Identity.InterruptPin == PciInterruptPin.None)
            throw new InvalidOperationException($"{_device.GetType().Name} declares no interrupt pin; set PciIdentity.InterruptPin to use INTx.");
        _level = asserted;
        var cfg = _device.Config;
        if (asserted) cfg.SetBits16(PciHeader.Status, (ushort)PciStatus.InterruptStatus);
        else cfg.ClearBits16(PciHeader.Status, (ushort)PciStatus.InterruptStatus);
        Reevaluate();
    }

    /// <summary>Signals MSI <paramref name="vector"/>; true when a message went out (see <see cref="MsiCapability"/> for the rules).</summary>
    public bool SignalMsi(int vector) => _device.Msi?.Notify(vector) ?? false;

    /// <summary>Signals MSI-X <paramref name="vector"/>; true when a message went out (see <see cref="MsiXCapability"/> for the rules).</summary>
    public bool SignalMsiX(int vector) => _device.MsiX?.Notify(vector) ?? false;

    internal void Connect(IInterruptSink? sink)
    {
        _sink = sink;
        _output = false;
        Reevaluate();
    }

    internal void OnMsiStateChanged() => Reevaluate();

    internal void OnReset()
    {
        _level = false;
        Reevaluate();
    }

    internal void Reevaluate()
    {
        var command = (PciCommand)_device.Config.Get16(PciHeader.Command);
        bool output = _level && (command & PciCommand.InterruptDisable) == 0 && !MsiEnabled && !MsiXEnabled;
        if (output == _output) return;
        _output = output;
        _sink?.SetIntx(output);
    }

    internal bool SendMessage(in MsiMessage message)
    {
        var command = (PciCommand)_device.Config.Get16(PciHeader.Command);
        if ((command & PciCommand.BusMaster) == 0)
        {
            _device.Counters.Increment(ref _device.Counters.MessagesBlockedByBusMaster);
            if (_device.ShouldLog(GuestErrorKind.Interrupt, out int suppressed)) _device.WriteGuestError(suppressed, "an MSI/MSI-X message was dropped because Bus Master is off");
            return false;
        }
        if (_sink is null) return false;
        _device.Counters.Increment(ref _device.Counters.MessagesSent);
        _sink.SendMessage(message);
        return true;
    }
}
