namespace PciKit.Inspection;

/// <summary>Builds the name fragments of lspci's output (class, vendor/device, subsystem, prog-if).</summary>
internal static class LspciNames
{
    internal static string ClassText(PciIdDatabase? db, byte cls, byte sub, bool numeric)
    {
        string? subName = db is null ? PciClassNames.Subclass(cls, sub) : db.Subclass(cls, sub);
        if (subName is not null)
        {
            return numeric ? $"{subName} [{cls:x2}{sub:x2}]" : subName;
        }

        string? clsName = db is null ? PciClassNames.Class(cls) : db.Class(cls);
        if (clsName is not null)
        {
            return $"{clsName} [{cls:x2}{sub:x2}]";
        }

        return numeric ? $"Class [{cls:x2}{sub:x2}]" : $"Class {cls:x2}{sub:x2}";
    }

    internal static string DeviceText(PciIdDatabase? db, ushort vendor, ushort device, bool numeric)
        => Compose(db?.Vendor(vendor), db?.Device(vendor, device), vendor, device, numeric);

    internal static string SubsystemText(PciIdDatabase? db, ushort vendor, ushort device, ushort subVendor, ushort subDevice, bool numeric)
    {
        string? name = db?.Subsystem(vendor, device, subVendor, subDevice);
        if (name is null && subVendor == vendor && subDevice == device)
        {
            // A subsystem equal to the device itself is named after the device.
            name = db?.Device(vendor, device);
        }

        return Compose(db?.Vendor(subVendor), name, subVendor, subDevice, numeric);
    }

    internal static string ProgIfText(PciIdDatabase? db, byte cls, byte sub, byte progIf)
    {
        string? name = db?.ProgIf(cls, sub, progIf);
        if (progIf == 0 && name is null)
        {
            return string.Empty;
        }

        return name is null ? $" (prog-if {progIf:x2})" : $" (prog-if {progIf:x2} [{name}])";
    }

    private static string Compose(string? vendorName, string? itemName, ushort vendor, ushort item, bool numeric)
    {
        if (vendorName is not null && itemName is not null)
        {
            return numeric ? $"{vendorName} {itemName} [{vendor:x4}:{item:x4}]" : $"{vendorName} {itemName}";
        }

        if (vendorName is not null)
        {
            return numeric ? $"{vendorName} Device [{vendor:x4}:{item:x4}]" : $"{vendorName} Device {item:x4}";
        }

        return numeric ? $"Device [{vendor:x4}:{item:x4}]" : $"Device {vendor:x4}:{item:x4}";
    }
}
