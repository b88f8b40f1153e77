using System.CommandLine;
using System.CommandLine.Invocation;
using System.Runtime.InteropServices;
using Dgram.Actors.Sockets;

namespace Dgram.Cli;

/// <summary>
/// <c>dgram</c>: listen to, send to and inspect multicast groups. Exit codes: 0 done, 1 a runtime
/// failure (the kernel refused, a listen timed out before <c>--count</c>), 2 bad input (one line on
/// stderr), 130 interrupted.
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("Join, listen to, send to and inspect multicast groups (Linux).")
        {
            ListenCommand.Create(),
            SendCommand.Create(),
            InfoCommand.Create(),
        };
        ParseResult parse = root.Parse(args);
        if (parse.Action is ParseErrorAction && parse.Errors.Count > 0)
        {
            string command = parse.CommandResult.Command is RootCommand ? "dgram" : "dgram " + parse.CommandResult.Command.Name;
            return Cli.Fail(ExitCodes.BadInput, $"{parse.Errors[0].Message} (see '{command} --help')");
        }
        return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }
}

/// <summary>The tool's exit codes.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int BadInput = 2;
    public const int Interrupted = 130;
}

/// <summary>A failure the tool reports with one line on stderr and an exit code.</summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;

    public static CliException BadInput(string message) => new(ExitCodes.BadInput, message);
}

/// <summary>What every command shares: running an action with one-line errors, parsing addresses.</summary>
internal static class Cli
{
    /// <summary>
    /// Runs a command body: bad input and the failures of a start (a socket the kernel refuses, a file, a
    /// system other than Linux) become one stderr line and an exit code, never an exception dump.
    /// </summary>
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (CliException e)
        {
            return Fail(e.ExitCode, e.Message);
        }
        catch (DatagramSocketException e)
        {
            // The library's validation (Error != Kernel) rejects input before the kernel sees it: bad input.
            return Fail(e.Error == DatagramSocketError.Kernel ? ExitCodes.Failed : ExitCodes.BadInput, Describe(e));
        }
        // A file the tool cannot read, or a system other than Linux (the first socket says the library is Linux-only).
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            return Fail(ExitCodes.Failed, e.Message);
        }
    }

    public static int Fail(int exitCode, string message)
    {
        Console.Error.WriteLine("dgram: " + OneLine(message));
        Console.Error.Flush();
        return exitCode;
    }

    /// <summary>One clear line from a library error, keyed on its validation code.</summary>
    public static string Describe(DatagramSocketException e) => e.Error switch
    {
        DatagramSocketError.UnknownInterface => $"unknown interface {e.Arguments}",
        DatagramSocketError.InvalidInterfaceName => $"invalid interface name {e.Arguments}: {e.Detail}",
        DatagramSocketError.NotMulticast => e.Detail ?? e.Message,
        DatagramSocketError.FamilyMismatch => "family mismatch: " + FamilyWords(e.Detail ?? e.Message),
        DatagramSocketError.OutOfRange => $"{e.Arguments} is out of range for {e.Operation}: {e.Detail}",
        DatagramSocketError.InvalidArgument when e.Detail is not null => $"{e.Operation}({e.Arguments}): {e.Detail}",
        _ => e.Message,
    };

    private static string FamilyWords(string s) => s.Replace("InterNetworkV6", "IPv6", StringComparison.Ordinal)
        .Replace("InterNetwork", "IPv4", StringComparison.Ordinal);

    private static string OneLine(string s) => System.Text.RegularExpressions.Regex.Replace(s, @"\s+", " ").Trim();

    /// <summary>Parses an IPv4 (dotted quad, four parts) or IPv6 address; anything else is bad input naming <paramref name="what"/>.</summary>
    public static System.Net.IPAddress ParseAddress(string? text, string what)
    {
        text = text?.Trim() ?? "";
        bool ok = System.Net.IPAddress.TryParse(text, out System.Net.IPAddress? address);
        // IPAddress.TryParse takes "10.1" and "1" as IPv4; an operator who typed that made a mistake.
        if (ok && address!.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && !IsDottedQuad(text)) ok = false;
        if (!ok) throw CliException.BadInput($"malformed address \"{text}\" for {what}");
        return address!;
    }

    private static bool IsDottedQuad(string s)
    {
        string[] parts = s.Split('.');
        return parts.Length == 4 && parts.All(p => p.Length is > 0 and <= 3 && p.All(char.IsAsciiDigit));
    }

    public static string FamilyName(System.Net.IPAddress a) =>
        a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4";

    /// <summary>Checks a port option's value.</summary>
    public static void AddPortValidator(Option<int> port) => port.Validators.Add(r =>
    {
        int value = r.GetValueOrDefault<int>();
        if (value is < 1 or > 65535) r.AddError($"--port {value} is out of range: a port is 1 to 65535");
    });

    /// <summary>The interface's index, through the library's lookup (unknown name: bad input).</summary>
    public static int InterfaceIndex(string name, string operation) => NetworkInterfaceNames.GetIndex(name, operation);

    /// <summary>A cancellation source cancelled by SIGINT or SIGTERM (the signal does not kill the process).</summary>
    public static (CancellationTokenSource Source, IDisposable Registration) OnInterrupt(Action? also = null)
    {
        var cts = new CancellationTokenSource();
        void Handler(PosixSignalContext context)
        {
            context.Cancel = true;
            try
            {
                cts.Cancel();
                also?.Invoke();
            }
            catch (ObjectDisposedException)
            {
            }
        }
        var registrations = new CompositeDisposable(
            PosixSignalRegistration.Create(PosixSignal.SIGINT, Handler),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handler),
            cts);
        return (cts, registrations);
    }

    private sealed class CompositeDisposable(params IDisposable[] items) : IDisposable
    {
        public void Dispose()
        {
            foreach (IDisposable d in items) d.Dispose();
        }
    }
}
