using System.CommandLine;
using PciKit.Cli.Commands;

namespace PciKit.Cli;

/// <summary>The <c>pcikit</c> command.</summary>
public static class Program
{
    /// <summary>Runs the command line; returns the exit code.</summary>
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs the command line with the given output streams (used by tests).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("pcikit: PCI devices in user space — build them in C#, drive them, inspect them like lspci.");
        root.Subcommands.Add(DevicesCommand.Create(stdout));
        root.Subcommands.Add(LspciCommand.Create(stdout));
        root.Subcommands.Add(DemoCommand.Create(stdout));
        root.Subcommands.Add(ServeCommand.Create(stdout, stderr));
        root.Subcommands.Add(ProbeCommand.Create(stdout));
        root.Subcommands.Add(VmCommand.Create(stdout, stderr));
        root.Subcommands.Add(IvshmemServerCommand.Create(stdout, stderr));
        root.Subcommands.Add(IvshmemClientCommand.Create(Console.In, stdout, stderr));
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            string message = parse.UnmatchedTokens.Count > 0
                ? $"unrecognized argument '{parse.UnmatchedTokens[0]}'"
                : parse.Errors[0].Message;
            stderr.WriteLine($"pcikit: {message} (see 'pcikit --help')");
            return 2;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (CliUsageException e)
        {
            stderr.WriteLine($"pcikit: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is PciException or ArgumentException or IOException or InvalidOperationException or TimeoutException or InsufficientMemoryException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"pcikit: {e.Message.Split('\n')[0].Trim()}");
            return 1;
        }
    }
}

/// <summary>A bad argument the parser could not catch; printed as one line, exit code 2.</summary>
internal sealed class CliUsageException(string message) : Exception(message);
