namespace PciKit.Linux;

/// <summary>Protection of a <see cref="MemoryMapping"/>.</summary>
public enum MappingAccess
{
    /// <summary>PROT_READ. Writes through the mapping's accessors throw <see cref="InvalidOperationException"/>.</summary>
    ReadOnly,

    /// <summary>PROT_READ | PROT_WRITE.</summary>
    ReadWrite,
}
