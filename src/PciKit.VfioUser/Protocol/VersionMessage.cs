using System.Buffers.Binary;
using System.Buffers.Text;
using System.Text.Json;

namespace PciKit.VfioUser.Protocol;

/// <summary>Capabilities negotiated in VERSION; fields absent from the JSON keep the spec's defaults.</summary>
internal readonly record struct VfioUserCapabilities
{
    /// <summary>Capabilities with every default from the spec.</summary>
    public VfioUserCapabilities() { }

    /// <summary>Most fds the peer accepts in one message (default 1).</summary>
    public uint MaxMessageFds { get; init; } = 1;
    /// <summary>Largest data transfer in one message (default 1 MiB).</summary>
    public ulong MaxDataTransferSize { get; init; } = 1 << 20;
    /// <summary>Most DMA mappings (default 65535).</summary>
    public uint MaxDmaMaps { get; init; } = 65535;
    /// <summary>Supported page sizes bitmap (default 4096).</summary>
    public ulong PageSizes { get; init; } = 4096;
    /// <summary>REGION_WRITE_MULTI supported.</summary>
    public bool WriteMultiple { get; init; }
    /// <summary><c>twin_socket.supported</c>.</summary>
    public bool TwinSocket { get; init; }
    /// <summary><c>twin_socket.fd_index</c>, or -1 when absent.</summary>
    public int TwinSocketFdIndex { get; init; } = -1;
    /// <summary>A <c>migration</c> object was present.</summary>
    public bool HasMigration { get; init; }
    /// <summary><c>migration.pgsize</c> (0 when absent).</summary>
    public ulong MigrationPageSize { get; init; }
    /// <summary><c>migration.max_bitmap_size</c> (0 when absent).</summary>
    public ulong MigrationMaxBitmapSize { get; init; }
}

/// <summary>VERSION request or reply: u16 major, u16 minor, NUL-terminated JSON capabilities.</summary>
internal readonly record struct VfioUserVersion(ushort Major, ushort Minor, VfioUserCapabilities Capabilities)
{
    /// <summary>Size of the fixed part (major + minor).</summary>
    public const int FixedSize = 4;
    /// <summary>Largest JSON string accepted, NUL included.</summary>
    public const int MaxJsonSize = 4096;
    /// <summary>JSON nesting allowed.</summary>
    private const int MaxDepth = 8;

    /// <summary>
    /// Parses a VERSION payload. A payload of exactly 4 bytes carries no JSON and yields defaults.
    /// Fails with EINVAL on truncation, a missing or misplaced NUL, malformed JSON or a wrong JSON type,
    /// and with E2BIG when the JSON exceeds <see cref="MaxJsonSize"/>.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> payload, out VfioUserVersion value, out VfioUserError error)
    {
        value = default;
        if (payload.Length < FixedSize)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "VERSION shorter than 4 bytes");
        }

        ushort major = BinaryPrimitives.ReadUInt16LittleEndian(payload);
        ushort minor = BinaryPrimitives.ReadUInt16LittleEndian(payload[2..]);
        ReadOnlySpan<byte> json = payload[FixedSize..];
        var caps = new VfioUserCapabilities();
        if (json.Length == 0)
        {
            value = new VfioUserVersion(major, minor, caps);
            return Wire.Ok(out error);
        }

        if (json.Length > MaxJsonSize)
        {
            return Wire.Fail(out error, LinuxErrno.E2BIG, "VERSION JSON too large");
        }

        int nul = json.IndexOf((byte)0);
        if (nul < 0)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "VERSION JSON not NUL-terminated");
        }

        if (nul != json.Length - 1)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "bytes after the VERSION JSON terminator");
        }

        if (!System.Text.Unicode.Utf8.IsValid(json[..nul]))
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "VERSION JSON is not valid UTF-8");
        }

        if (!TryParseJson(json[..nul], ref caps, out error))
        {
            return false;
        }

        value = new VfioUserVersion(major, minor, caps);
        return true;
    }

    private static bool TryParseJson(ReadOnlySpan<byte> json, ref VfioUserCapabilities caps, out VfioUserError error)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = MaxDepth });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return Wire.Fail(out error, LinuxErrno.EINVAL, "VERSION JSON is not an object");
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isCaps = reader.ValueTextEquals("capabilities"u8);
                reader.Read();
                if (isCaps)
                {
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        return Wire.Fail(out error, LinuxErrno.EINVAL, "capabilities is not an object");
                    }

                    if (!TryParseCapabilities(ref reader, ref caps, out error))
                    {
                        return false;
                    }
                }
                else
                {
                    reader.Skip();
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                return Wire.Fail(out error, LinuxErrno.EINVAL, "VERSION JSON malformed");
            }

            return Wire.Ok(out error);
        }
        catch (JsonException)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "VERSION JSON malformed");
        }
    }

    private static bool TryParseCapabilities(ref Utf8JsonReader reader, ref VfioUserCapabilities caps, out VfioUserError error)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("max_msg_fds"u8))
            {
                if (!ReadU32(ref reader, out uint v)) { return Wire.Fail(out error, LinuxErrno.EINVAL, "max_msg_fds is not a u32"); }
                caps = caps with { MaxMessageFds = v };
            }
            else if (reader.ValueTextEquals("max_data_xfer_size"u8))
            {
                if (!ReadU64(ref reader, out ulong v)) { return Wire.Fail(out error, LinuxErrno.EINVAL, "max_data_xfer_size is not a u64"); }
                caps = caps with { MaxDataTransferSize = v };
            }
            else if (reader.ValueTextEquals("max_dma_maps"u8))
            {
                if (!ReadU32(ref reader, out uint v)) { return Wire.Fail(out error, LinuxErrno.EINVAL, "max_dma_maps is not a u32"); }
                caps = caps with { MaxDmaMaps = v };
            }
            else if (reader.ValueTextEquals("pgsizes"u8))
            {
                if (!ReadU64(ref reader, out ulong v)) { return Wire.Fail(out error, LinuxErrno.EINVAL, "pgsizes is not a u64"); }
                caps = caps with { PageSizes = v };
            }
            else if (reader.ValueTextEquals("write_multiple"u8))
            {
                if (!ReadBool(ref reader, out bool v)) { return Wire.Fail(out error, LinuxErrno.EINVAL, "write_multiple is not a boolean"); }
                caps = caps with { WriteMultiple = v };
            }
            else if (reader.ValueTextEquals("twin_socket"u8))
            {
                if (!TryParseTwinSocket(ref reader, ref caps, out error)) { return false; }
            }
            else if (reader.ValueTextEquals("migration"u8))
            {
                if (!TryParseMigration(ref reader, ref caps, out error)) { return false; }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return reader.TokenType == JsonTokenType.EndObject
            ? Wire.Ok(out error)
            : Wire.Fail(out error, LinuxErrno.EINVAL, "capabilities malformed");
    }

    private static bool TryParseTwinSocket(ref Utf8JsonReader reader, ref VfioUserCapabilities caps, out VfioUserError error)
    {
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "twin_socket is not an object");
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("supported"u8))
            {
                if (!ReadBool(ref reader, out bool v)) { return Wire.Fail(out error, LinuxErrno.EINVAL, "twin_socket.supported is not a boolean"); }
                caps = caps with { TwinSocket = v };
            }
            else if (reader.ValueTextEquals("fd_index"u8))
            {
                if (!ReadU32(ref reader, out uint v) || v > int.MaxValue) { return Wire.Fail(out error, LinuxErrno.EINVAL, "twin_socket.fd_index is not an index"); }
                caps = caps with { TwinSocketFdIndex = (int)v };
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return Wire.Ok(out error);
    }

    private static bool TryParseMigration(ref Utf8JsonReader reader, ref VfioUserCapabilities caps, out VfioUserError error)
    {
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return Wire.Fail(out error, LinuxErrno.EINVAL, "migration is not an object");
        }

        caps = caps with { HasMigration = true };
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("pgsize"u8))
            {
                if (!ReadU64(ref reader, out ulong v)) { return Wire.Fail(out error, LinuxErrno.EINVAL, "migration.pgsize is not a u64"); }
                caps = caps with { MigrationPageSize = v };
            }
            else if (reader.ValueTextEquals("max_bitmap_size"u8))
            {
                if (!ReadU64(ref reader, out ulong v)) { return Wire.Fail(out error, LinuxErrno.EINVAL, "migration.max_bitmap_size is not a u64"); }
                caps = caps with { MigrationMaxBitmapSize = v };
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return Wire.Ok(out error);
    }

    private static bool ReadU32(ref Utf8JsonReader reader, out uint value)
    {
        value = 0;
        return reader.Read() && reader.TokenType == JsonTokenType.Number && reader.TryGetUInt32(out value);
    }

    private static bool ReadU64(ref Utf8JsonReader reader, out ulong value)
    {
        value = 0;
        return reader.Read() && reader.TokenType == JsonTokenType.Number && reader.TryGetUInt64(out value);
    }

    private static bool ReadBool(ref Utf8JsonReader reader, out bool value)
    {
        value = false;
        if (!reader.Read() || (reader.TokenType != JsonTokenType.True && reader.TokenType != JsonTokenType.False))
        {
            return false;
        }

        value = reader.GetBoolean();
        return true;
    }

    /// <summary>
    /// Writes a VERSION payload (major, minor, JSON, NUL). Members at their defaults that need no stating
    /// are still written for the numeric limits; <c>write_multiple</c>, <c>twin_socket</c> and <c>migration</c>
    /// only when set. Returns false if <paramref name="destination"/> is too small.
    /// </summary>
    public bool TryWrite(Span<byte> destination, out int bytesWritten)
    {
        bytesWritten = 0;
        if (destination.Length < FixedSize)
        {
            return false;
        }

        BinaryPrimitives.WriteUInt16LittleEndian(destination, Major);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], Minor);
        var w = new SpanWriter(destination, FixedSize);
        VfioUserCapabilities c = Capabilities;
        w.Text("{\"capabilities\":{\"max_msg_fds\":"u8); w.Number(c.MaxMessageFds);
        w.Text(",\"max_data_xfer_size\":"u8); w.Number(c.MaxDataTransferSize);
        w.Text(",\"max_dma_maps\":"u8); w.Number(c.MaxDmaMaps);
        w.Text(",\"pgsizes\":"u8); w.Number(c.PageSizes);
        if (c.WriteMultiple)
        {
            w.Text(",\"write_multiple\":true"u8);
        }

        if (c.TwinSocket)
        {
            w.Text(",\"twin_socket\":{\"supported\":true"u8);
            if (c.TwinSocketFdIndex >= 0)
            {
                w.Text(",\"fd_index\":"u8); w.Number((ulong)c.TwinSocketFdIndex);
            }

            w.Text("}"u8);
        }

        if (c.HasMigration)
        {
            w.Text(",\"migration\":{\"pgsize\":"u8); w.Number(c.MigrationPageSize);
            w.Text(",\"max_bitmap_size\":"u8); w.Number(c.MigrationMaxBitmapSize);
            w.Text("}"u8);
        }

        w.Text("}}\0"u8);
        if (w.Overflowed)
        {
            return false;
        }

        bytesWritten = w.Position;
        return true;
    }

    /// <summary>Like <see cref="TryWrite"/> but throws <see cref="ArgumentException"/> when the buffer is too small.</summary>
    public int Write(Span<byte> destination)
    {
        if (!TryWrite(destination, out int written))
        {
            throw new ArgumentException("Destination too small for the VERSION payload; pass a larger buffer.", nameof(destination));
        }

        return written;
    }

    private ref struct SpanWriter(Span<byte> buffer, int position)
    {
        private readonly Span<byte> _buffer = buffer;

        public int Position { get; private set; } = position;
        public bool Overflowed { get; private set; }

        public void Text(ReadOnlySpan<byte> text)
        {
            if (Overflowed || !text.TryCopyTo(_buffer[Position..]))
            {
                Overflowed = true;
                return;
            }

            Position += text.Length;
        }

        public void Number(ulong value)
        {
            if (Overflowed || !Utf8Formatter.TryFormat(value, _buffer[Position..], out int n))
            {
                Overflowed = true;
                return;
            }

            Position += n;
        }
    }
}
