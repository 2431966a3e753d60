using System.CommandLine;

namespace PciKit.Cli.Commands;

/// <summary><c>--busy-poll-us</c>: how long the vfio-user server polls for the next message before it sleeps.</summary>
internal static class BusyPollOption
{
    public static Option<int?> Create() => new("--busy-poll-us")
    {
        Description = "Microseconds the vfio-user server polls for the next message before it sleeps (0: off). " +
                      "Default: 50 when more than one CPU is available, else 0. Saves a wake-up per request; costs CPU while a client is busy.",
    };

    /// <summary>The option's value as a server setting: null (the server's default) when not given.</summary>
    public static TimeSpan? Read(ParseResult parse, Option<int?> option) => parse.GetValue(option) switch
    {
        null => null,
        int us when us is < 0 or > 1_000_000 => throw new CliUsageException($"--busy-poll-us {us} is out of range: give 0 (off) to 1000000"),
        var us => TimeSpan.FromMicroseconds(us.Value),
    };
}
