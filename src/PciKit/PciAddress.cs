using System.Globalization;

namespace PciKit;

/// <summary>A PCI function address: domain (segment), bus, device and function.</summary>
public readonly record struct PciAddress
{
    /// <summary>Creates an address; throws <see cref="ArgumentOutOfRangeException"/> for values outside the PCI ranges.</summary>
    public PciAddress(int domain, int bus, int device, int function)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(domain);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(domain, 0xFFFF);
        ArgumentOutOfRangeException.ThrowIfNegative(bus);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bus, 0xFF);
        ArgumentOutOfRangeException.ThrowIfNegative(device);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(device, 31);
        ArgumentOutOfRangeException.ThrowIfNegative(function);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(function, 7);
        Domain = domain;
        Bus = bus;
        Device = device;
        Function = function;
    }

    /// <summary>PCI domain (segment group), 0–65535.</summary>
    public int Domain { get; }
    /// <summary>Bus number, 0–255.</summary>
    public int Bus { get; }
    /// <summary>Device number, 0–31.</summary>
    public int Device { get; }
    /// <summary>Function number, 0–7.</summary>
    public int Function { get; }

    /// <summary>The short form lspci prints: <c>BB:DD.F</c>.</summary>
    public string ToShortString() => string.Create(CultureInfo.InvariantCulture, $"{Bus:x2}:{Device:x2}.{Function:x1}");

    /// <summary>The full form sysfs uses: <c>DDDD:BB:DD.F</c>.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Domain:x4}:{Bus:x2}:{Device:x2}.{Function:x1}");

    /// <summary>Parses <c>DDDD:BB:DD.F</c> or <c>BB:DD.F</c> (hexadecimal).</summary>
    public static PciAddress Parse(string text)
    {
        if (TryParse(text, out var address)) return address;
        throw new FormatException($"'{text}' is not a PCI address; write it as BB:DD.F or DDDD:BB:DD.F in hexadecimal, e.g. 00:04.0.");
    }

    /// <summary>Tries to parse <c>DDDD:BB:DD.F</c> or <c>BB:DD.F</c>.</summary>
    public static bool TryParse(string? text, out PciAddress address)
    {
        address = default;
        if (string.IsNullOrEmpty(text)) return false;
        var parts = text.Split(':');
        int domain = 0;
        string bus, devfn;
        if (parts.Length == 3) { if (!Hex(parts[0], 4, out domain)) return false; bus = parts[1]; devfn = parts[2]; }
        else if (parts.Length == 2) { bus = parts[0]; devfn = parts[1]; }
        else return false;
        var df = devfn.Split('.');
        if (df.Length != 2) return false;
        if (!Hex(bus, 2, out int b) || !Hex(df[0], 2, out int d) || !Hex(df[1], 1, out int f)) return false;
        if (d > 31 || f > 7) return false;
        address = new PciAddress(domain, b, d, f);
        return true;

        static bool Hex(string s, int maxDigits, out int value)
        {
            value = 0;
            return s.Length > 0 && s.Length <= maxDigits && int.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        }
    }
}
