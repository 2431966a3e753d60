using System.Globalization;

namespace PciKit.Inspection;

/// <summary>
/// Vendor, device, subsystem and class names parsed from a <c>pci.ids</c> file
/// (usually <c>/usr/share/misc/pci.ids</c>; the caller opens it).
/// </summary>
public sealed class PciIdDatabase
{
    private readonly Dictionary<ushort, string> _vendors = [];
    private readonly Dictionary<uint, string> _devices = [];
    private readonly Dictionary<ulong, string> _subsystems = [];
    private readonly Dictionary<int, string> _classes = [];

    private PciIdDatabase()
    {
    }

    /// <summary>Parses a <c>pci.ids</c> text. Malformed lines are skipped.</summary>
    /// <param name="reader">Reader positioned at the start of the file.</param>
    /// <returns>The parsed database.</returns>
    public static PciIdDatabase Parse(TextReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var db = new PciIdDatabase();
        int vendor = -1, device = -1, cls = -1, sub = -1;
        bool inClasses = false;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            int depth = 0;
            while (depth < line.Length && line[depth] == '\t')
            {
                depth++;
            }

            ReadOnlySpan<char> body = line.AsSpan(depth);
            if (depth == 0)
            {
                inClasses = body.StartsWith("C ", StringComparison.Ordinal);
                vendor = device = cls = sub = -1;
                if (inClasses)
                {
                    if (TryHex(body[2..], 2, out cls, out string? cname))
                    {
                        db._classes[ClassKey(cls, -1, -1)] = cname;
                    }
                }
                else if (TryHex(body, 4, out vendor, out string? vname))
                {
                    db._vendors[(ushort)vendor] = vname;
                }

                continue;
            }

            if (inClasses)
            {
                if (cls < 0)
                {
                    continue;
                }

                if (depth == 1 && TryHex(body, 2, out sub, out string? sname))
                {
                    db._classes[ClassKey(cls, sub, -1)] = sname;
                }
                else if (depth == 2 && sub >= 0 && TryHex(body, 2, out int pi, out string? pname))
                {
                    db._classes[ClassKey(cls, sub, pi)] = pname;
                }

                continue;
            }

            if (vendor < 0)
            {
                continue;
            }

            if (depth == 1 && TryHex(body, 4, out device, out string? dname))
            {
                db._devices[DeviceKey(vendor, device)] = dname;
            }
            else if (depth == 2 && device >= 0 && body.Length > 10 && body[4] == ' '
                && TryHex(body[..4], 4, out int sv, out _, requireName: false)
                && TryHex(body[5..], 4, out int sd, out string? subname))
            {
                db._subsystems[SubsystemKey(vendor, device, sv, sd)] = subname;
            }
        }

        return db;
    }

    /// <summary>Vendor name, or null when unknown.</summary>
    /// <param name="vendorId">PCI vendor ID.</param>
    /// <returns>The name or null.</returns>
    public string? Vendor(ushort vendorId) => _vendors.GetValueOrDefault(vendorId);

    /// <summary>Device name, or null when unknown.</summary>
    /// <param name="vendorId">PCI vendor ID.</param>
    /// <param name="deviceId">PCI device ID.</param>
    /// <returns>The name or null.</returns>
    public string? Device(ushort vendorId, ushort deviceId) => _devices.GetValueOrDefault(DeviceKey(vendorId, deviceId));

    /// <summary>Subsystem name listed under a device, or null when unknown.</summary>
    /// <param name="vendorId">PCI vendor ID of the device.</param>
    /// <param name="deviceId">PCI device ID.</param>
    /// <param name="subsystemVendorId">Subsystem vendor ID.</param>
    /// <param name="subsystemId">Subsystem ID.</param>
    /// <returns>The name or null.</returns>
    public string? Subsystem(ushort vendorId, ushort deviceId, ushort subsystemVendorId, ushort subsystemId)
        => _subsystems.GetValueOrDefault(SubsystemKey(vendorId, deviceId, subsystemVendorId, subsystemId));

    /// <summary>Base class name (e.g. 0x02 "Network controller"), or null when unknown.</summary>
    /// <param name="baseClass">Base class code.</param>
    /// <returns>The name or null.</returns>
    public string? Class(byte baseClass) => _classes.GetValueOrDefault(ClassKey(baseClass, -1, -1));

    /// <summary>Subclass name (e.g. 0x02/0x00 "Ethernet controller"), or null when unknown.</summary>
    /// <param name="baseClass">Base class code.</param>
    /// <param name="subclass">Subclass code.</param>
    /// <returns>The name or null.</returns>
    public string? Subclass(byte baseClass, byte subclass) => _classes.GetValueOrDefault(ClassKey(baseClass, subclass, -1));

    /// <summary>Programming interface name (e.g. 0x0c/0x03/0x30 "XHCI"), or null when unknown.</summary>
    /// <param name="baseClass">Base class code.</param>
    /// <param name="subclass">Subclass code.</param>
    /// <param name="progIf">Programming interface code.</param>
    /// <returns>The name or null.</returns>
    public string? ProgIf(byte baseClass, byte subclass, byte progIf) => _classes.GetValueOrDefault(ClassKey(baseClass, subclass, progIf));

    private static uint DeviceKey(int vendor, int device) => ((uint)vendor << 16) | (uint)device;

    private static ulong SubsystemKey(int vendor, int device, int sv, int sd)
        => ((ulong)DeviceKey(vendor, device) << 32) | DeviceKey(sv, sd);

    private static int ClassKey(int cls, int sub, int progIf) => (cls << 18) | ((sub + 1) << 9) | (progIf + 1);

    private static bool TryHex(ReadOnlySpan<char> text, int digits, out int value, out string name, bool requireName = true)
    {
        name = string.Empty;
        value = -1;
        if (text.Length < digits
            || !int.TryParse(text[..digits], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int parsed))
        {
            return false;
        }

        ReadOnlySpan<char> rest = text[digits..];
        if (requireName)
        {
            if (rest.Length == 0 || rest[0] != ' ')
            {
                return false;
            }

            name = rest.Trim().ToString();
            if (name.Length == 0)
            {
                return false;
            }
        }

        value = parsed;
        return true;
    }
}
