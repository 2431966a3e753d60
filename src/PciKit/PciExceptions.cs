namespace PciKit;

/// <summary>Base type of the exceptions PciKit throws for misuse of its API.</summary>
public class PciException : Exception
{
    /// <summary>Creates the exception with a message that says what to do.</summary>
    public PciException(string message) : base(message) { }
    /// <summary>Creates the exception with an inner cause.</summary>
    public PciException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A device definition is invalid (BAR sizes, capability layout, IDs); raised while a device is built.</summary>
public sealed class PciDefinitionException : PciException
{
    /// <summary>Creates the exception.</summary>
    public PciDefinitionException(string message) : base(message) { }
}

/// <summary>A driver-API call that the device or session cannot honour (not open, BAR not mappable, no such capability …).</summary>
public sealed class PciDriverException : PciException
{
    /// <summary>Creates the exception.</summary>
    public PciDriverException(string message) : base(message) { }
    /// <summary>Creates the exception with an inner cause.</summary>
    public PciDriverException(string message, Exception inner) : base(message, inner) { }
}
