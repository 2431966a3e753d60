using PciKit.Capabilities;
using PciKit.Config;

namespace PciKit.Device;

/// <summary>Builds a device's configuration space from its definition: header, BAR masks, capability chains.</summary>
internal sealed class ConfigLayout(PciDevice device)
{
    public ConfigSpace Build(PciBar?[] bars, List<(PciCapability Cap, int? Offset)> caps,
        List<(PciExtendedCapability Cap, int? Offset)> extCaps, PciCommand commandFeatures)
    {
        bool express = caps.Any(c => c.Cap is PciExpressCapability);
        if (extCaps.Count > 0 && !express)
            throw new PciDefinitionException("Extended capabilities live in the 4 KiB space of a PCI Express function; add a PciExpressCapability.");
        var cfg = new ConfigSpace(express ? PciHeader.ExtendedSize : PciHeader.ConventionalSize);
        WriteHeader(cfg, bars, commandFeatures, express, caps.Count > 0);
        // The device's Config property must work while capabilities initialise; it is assigned by the caller, so
        // capabilities are installed through a space the device already exposes.
        device.AdoptConfig(cfg);
        LinkCapabilities(cfg, caps);
        LinkExtendedCapabilities(cfg, extCaps);
        return cfg;
    }

    private void WriteHeader(ConfigSpace cfg, PciBar?[] bars, PciCommand commandFeatures, bool express, bool hasCaps)
    {
        var id = device.Identity;
        cfg.Set16(PciHeader.VendorId, id.VendorId);
        cfg.Set16(PciHeader.DeviceId, id.DeviceId);
        cfg.Set8(PciHeader.RevisionId, id.Revision);
        cfg.Set8(PciHeader.ProgIf, (byte)id.ClassCode);
        cfg.Set8(PciHeader.SubClass, (byte)(id.ClassCode >> 8));
        cfg.Set8(PciHeader.BaseClass, (byte)(id.ClassCode >> 16));
        cfg.Set8(PciHeader.HeaderType, id.MultiFunction ? PciHeader.MultiFunction : (byte)0);
        cfg.Set16(PciHeader.SubsystemVendorId, id.SubsystemVendorId);
        cfg.Set16(PciHeader.SubsystemId, id.SubsystemId);
        cfg.Set8(PciHeader.InterruptPin, (byte)id.InterruptPin);

        if ((commandFeatures & PciCommand.InterruptDisable) != 0 && id.InterruptPin == PciInterruptPin.None)
            throw new PciDefinitionException("Interrupt Disable is a command feature only of a function with an interrupt pin.");
        cfg.SetWriteMask(PciHeader.Command, 2, (ushort)commandFeatures);
        cfg.SetWriteOneToClearMask(PciHeader.Status, 2, (ushort)PciStatus.ErrorBits);
        if (hasCaps) cfg.Set16(PciHeader.Status, (ushort)PciStatus.CapabilitiesList);
        cfg.SetWriteMask(PciHeader.CacheLineSize, 1, 0xFF);
        if (!express) cfg.SetWriteMask(PciHeader.LatencyTimer, 1, 0xFF); // PCI Express: hardwired to 0
        cfg.SetWriteMask(PciHeader.InterruptLine, 1, 0xFF);

        for (int i = 0; i < 6; i++)
        {
            var bar = bars[i];
            if (bar is null) continue;
            int reg = PciHeader.Bar0 + 4 * i;
            cfg.Set32(reg, bar.TypeBits);
            cfg.SetWriteMask(reg, 4, (uint)bar.AddressMask);
            if (bar.Kind == PciBarKind.Memory64) cfg.SetWriteMask(reg + 4, 4, bar.AddressMask >> 32);
        }
        if (bars[PciDevice.RomIndex] is { } rom) cfg.SetWriteMask(PciHeader.RomAddress, 4, rom.AddressMask | 1);
    }

    private void LinkCapabilities(ConfigSpace cfg, List<(PciCapability Cap, int? Offset)> caps)
    {
        var used = new List<(int Start, int End, string Name)>();
        var offsets = new int[caps.Count];
        // Explicit offsets first, so that automatic placement (first fit from 0x40) goes around them.
        for (int i = 0; i < caps.Count; i++)
        {
            var (cap, requested) = caps[i];
            if (requested is not int r) continue;
            int length = cap.Length;
            if (r < PciHeader.End || r % 4 != 0 || r + length > PciHeader.ConventionalSize)
                throw new PciDefinitionException($"{cap.GetType().Name} at 0x{r:x} (+{length}) must be dword-aligned and lie within 0x40–0xFF.");
            foreach (var (s, e, n) in used)
                if (r < e && s < r + length)
                    throw new PciDefinitionException($"{cap.GetType().Name} at 0x{r:x} (+{length}) overlaps {n} at 0x{s:x}.");
            used.Add((r, r + length, cap.GetType().Name));
            offsets[i] = r;
        }
        for (int i = 0; i < caps.Count; i++)
        {
            var (cap, requested) = caps[i];
            if (requested is not null) continue;
            int length = cap.Length;
            int offset = FirstFit(used, PciHeader.End, length, PciHeader.ConventionalSize)
                ?? throw new PciDefinitionException($"{cap.GetType().Name} ({length} bytes) does not fit in the standard capability area 0x40–0xFF; remove a capability or move one to an extended capability.");
            used.Add((offset, offset + length, cap.GetType().Name));
            offsets[i] = offset;
        }
        for (int i = 0; i < caps.Count; i++)
        {
            var cap = caps[i].Cap;
            cfg.Set8(offsets[i], cap.Id);
            cfg.Set8(offsets[i] + 1, (byte)(i + 1 < caps.Count ? offsets[i + 1] : 0));
            cap.Install(device, offsets[i]);
            cfg.Observe(offsets[i], cap.Length, cap);
        }
        if (caps.Count > 0) cfg.Set8(PciHeader.CapabilitiesPointer, (byte)offsets[0]);
    }

    private void LinkExtendedCapabilities(ConfigSpace cfg, List<(PciExtendedCapability Cap, int? Offset)> caps)
    {
        var used = new List<(int Start, int End, string Name)>();
        int cursor = PciHeader.ConventionalSize;
        var offsets = new int[caps.Count];
        for (int i = 0; i < caps.Count; i++)
        {
            var (cap, requested) = caps[i];
            int length = cap.Length;
            if (length < 4 || length % 4 != 0) throw new PciDefinitionException($"{cap.GetType().Name}: an extended capability is a whole number of dwords, header included.");
            int offset = requested ?? FirstFit(used, cursor, length, PciHeader.ExtendedSize)
                ?? throw new PciDefinitionException($"{cap.GetType().Name} ({length} bytes) does not fit in the extended configuration space.");
            if (offset < PciHeader.ConventionalSize || offset % 4 != 0 || offset + length > PciHeader.ExtendedSize)
                throw new PciDefinitionException($"{cap.GetType().Name} at 0x{offset:x} must be dword-aligned and lie within 0x100–0xFFF.");
            if (i == 0 && offset != PciHeader.ConventionalSize)
                throw new PciDefinitionException("The extended capability list starts at 0x100: place the first extended capability there.");
            foreach (var (s, e, n) in used)
                if (offset < e && s < offset + length)
                    throw new PciDefinitionException($"{cap.GetType().Name} at 0x{offset:x} (+{length}) overlaps {n} at 0x{s:x}.");
            used.Add((offset, offset + length, cap.GetType().Name));
            offsets[i] = offset;
            cursor = offset + length;
        }
        for (int i = 0; i < caps.Count; i++)
        {
            var cap = caps[i].Cap;
            uint next = i + 1 < caps.Count ? (uint)offsets[i + 1] : 0;
            cfg.Set32(offsets[i], cap.Id | ((uint)cap.Version << 16) | (next << 20));
            cap.Install(device, offsets[i]);
            cfg.Observe(offsets[i], cap.Length, cap);
        }
    }

    private static int? FirstFit(List<(int Start, int End, string Name)> used, int from, int length, int limit)
    {
        for (int at = Align4(from); at + length <= limit; at += 4)
        {
            bool free = true;
            foreach (var (s, e, _) in used)
                if (at < e && s < at + length) { free = false; break; }
            if (free) return at;
        }
        return null;
    }

    private static int Align4(int v) => (v + 3) & ~3;
}
