using PciKit.Memory;

namespace PciKit.Device;

/// <summary>Access widths a register region accepts.</summary>
[Flags]
public enum AccessSizes
{
    /// <summary>None.</summary>
    None = 0,
    /// <summary>1-byte accesses.</summary>
    Byte = 1,
    /// <summary>2-byte accesses.</summary>
    Word = 2,
    /// <summary>4-byte accesses.</summary>
    Dword = 4,
    /// <summary>8-byte accesses.</summary>
    Qword = 8,
    /// <summary>4- and 8-byte accesses.</summary>
    DwordOrQword = Dword | Qword,
    /// <summary>Any width.</summary>
    Any = Byte | Word | Dword | Qword,
}

/// <summary>Something that lives inside a BAR at a fixed offset: registers with handlers, or plain memory.</summary>
public abstract class BarRegion
{
    /// <summary>Creates a region of <paramref name="size"/> bytes named <paramref name="name"/> (for logs).</summary>
    protected BarRegion(string name, ulong size)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (size == 0) throw new PciDefinitionException($"Region '{name}' has size 0; give it at least one byte.");
        Name = name;
        Size = size;
    }

    /// <summary>Name used in logs and diagnostics.</summary>
    public string Name { get; }

    /// <summary>Size in bytes.</summary>
    public ulong Size { get; }
}

/// <summary>Reads a register. <paramref name="offset"/> is relative to the region; <paramref name="size"/> is 1, 2, 4 or 8.</summary>
public delegate ulong RegisterReadHandler(ulong offset, int size);

/// <summary>Writes a register. <paramref name="offset"/> is relative to the region; <paramref name="size"/> is 1, 2, 4 or 8.</summary>
public delegate void RegisterWriteHandler(ulong offset, int size, ulong value);

/// <summary>
/// Registers whose reads and writes run device code. Accesses of a width not in <see cref="ValidSizes"/>, or
/// unaligned when <see cref="AllowUnaligned"/> is false, never reach the handlers: they read all-ones and writes
/// are dropped, and the device counts and logs them.
/// </summary>
public sealed class RegisterRegion : BarRegion
{
    /// <summary>Creates a register region.</summary>
    public RegisterRegion(string name, ulong size, RegisterReadHandler read, RegisterWriteHandler write,
        AccessSizes validSizes = AccessSizes.Dword, bool allowUnaligned = false) : base(name, size)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(write);
        if (validSizes == AccessSizes.None || ((int)validSizes & ~(int)AccessSizes.Any) != 0)
            throw new PciDefinitionException($"Region '{name}': valid access sizes must be a combination of Byte, Word, Dword and Qword.");
        Read = read;
        Write = write;
        ValidSizes = validSizes;
        AllowUnaligned = allowUnaligned;
    }

    /// <summary>Read handler.</summary>
    public RegisterReadHandler Read { get; }
    /// <summary>Write handler.</summary>
    public RegisterWriteHandler Write { get; }
    /// <summary>Accepted access widths.</summary>
    public AccessSizes ValidSizes { get; }
    /// <summary>Whether accesses need not be naturally aligned.</summary>
    public bool AllowUnaligned { get; }

    /// <summary>True when an access of <paramref name="size"/> bytes at region offset <paramref name="offset"/> is valid.</summary>
    public bool Accepts(ulong offset, int size) =>
        size is 1 or 2 or 4 or 8 && ((int)ValidSizes & size) != 0 && (AllowUnaligned || (offset & (ulong)(size - 1)) == 0);
}

/// <summary>
/// Plain memory inside a BAR (RAM, shared memory, a ROM image): reads and writes are loads and stores, any width,
/// and a driver may map it directly. The region does not own <see cref="Backing"/> unless told to.
/// </summary>
public sealed class MemoryRegion : BarRegion
{
    /// <summary>Creates a memory region over <paramref name="backing"/>.</summary>
    public MemoryRegion(string name, MemoryBlock backing, bool readOnly = false) : base(name, (backing ?? throw new ArgumentNullException(nameof(backing))).Length)
    {
        Backing = backing;
        ReadOnly = readOnly;
    }

    /// <summary>The memory.</summary>
    public MemoryBlock Backing { get; }

    /// <summary>Writes from the bus are dropped (a ROM).</summary>
    public bool ReadOnly { get; }
}
