using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Dgram.Actors.Sockets;

namespace Dgram.Cli;

/// <summary>
/// <c>dgram listen GROUP --port P --iface NAME [--source S]... [--block S]... [--format text|hex|json]
/// [--count N] [--timeout SECONDS]</c>: joins a group and prints one line per datagram.
/// </summary>
internal static class ListenCommand
{
    private const int BufferSize = 65536; // larger than any UDP datagram without jumbograms

    public static Command Create()
    {
        var group = new Argument<string>("GROUP") { Description = "The multicast group to join (IPv4 or IPv6; the socket's family follows it)." };
        var port = new Option<int>("--port", "-p") { Description = "The UDP port (bound on the group address).", Required = true };
        Cli.AddPortValidator(port);
        var iface = new Option<string>("--iface", "-i") { Description = "The interface to join on, by name.", Required = true };
        var sources = new Option<string[]>("--source", "-s")
        {
            Description = "Join source-specific: accept only this source (repeat for more).",
            DefaultValueFactory = _ => [],
        };
        var blocks = new Option<string[]>("--block", "-b")
        {
            Description = "Join any-source but block this source (repeat for more).",
            DefaultValueFactory = _ => [],
        };
        var format = new Option<string>("--format", "-f")
        {
            Description = "How to print each datagram: text (controls, format characters, backslashes and invalid UTF-8 escaped), hex, or json (one object per line).",
            DefaultValueFactory = _ => "text",
        };
        format.AcceptOnlyFromAmong("text", "hex", "json");
        var json = new Option<bool>("--json") { Description = "Shorthand for --format json." };
        var count = new Option<int?>("--count", "-c") { Description = "Exit 0 after this many datagrams." };
        var timeout = new Option<double?>("--timeout", "-t")
        {
            Description = "Stop after this many seconds; with --count not reached by then, exit 1.",
        };

        var command = new Command("listen", "Join a group on an interface and print each datagram with its source, destination and arrival interface.")
        {
            group, port, iface, sources, blocks, format, json, count, timeout,
        };
        command.SetAction(r => Cli.Run(() =>
        {
            string chosen = r.GetValue(format)!;
            OptionResult? formatGiven = r.GetResult(format);
            if (r.GetValue(json))
            {
                if (formatGiven is { Implicit: false } && chosen != "json")
                {
                    throw CliException.BadInput($"--json contradicts --format {chosen}");
                }
                chosen = "json";
            }
            return Run(new Settings(
                r.GetValue(group)!, r.GetValue(port), r.GetValue(iface)!, r.GetValue(sources) ?? [], r.GetValue(blocks) ?? [],
                chosen, r.GetValue(count), r.GetValue(timeout)));
        }));
        return command;
    }

    private sealed record Settings(string Group, int Port, string Interface, string[] Sources, string[] Blocks, string Format, int? Count, double? TimeoutSeconds);

    private static int Run(Settings s)
    {
        IPAddress group = Cli.ParseAddress(s.Group, "GROUP");
        // Before the bind: a unicast address that is not the host's would fail there as EADDRNOTAVAIL (exit 1).
        if (!DatagramSocket.IsMulticast(group))
        {
            throw CliException.BadInput($"GROUP {group} is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)");
        }
        IPAddress[] sources = s.Sources.Select(a => Cli.ParseAddress(a, "--source")).ToArray();
        IPAddress[] blocks = s.Blocks.Select(a => Cli.ParseAddress(a, "--block")).ToArray();
        foreach ((IPAddress address, string option) in sources.Select(a => (a, "--source")).Concat(blocks.Select(a => (a, "--block"))))
        {
            if (address.AddressFamily != group.AddressFamily)
            {
                throw CliException.BadInput(
                    $"family mismatch: {option} {address} is {Cli.FamilyName(address)} but GROUP {group} is {Cli.FamilyName(group)}");
            }
        }
        if (sources.Length > 0 && blocks.Length > 0)
        {
            throw CliException.BadInput("--source (source-specific) and --block (any-source) cannot be combined");
        }
        if (s.Count is <= 0) throw CliException.BadInput($"--count {s.Count} is out of range: give 1 or more");
        if (s.TimeoutSeconds is { } t && (!(t > 0) || double.IsInfinity(t) || t > int.MaxValue / 1000.0))
        {
            throw CliException.BadInput($"--timeout {t} is out of range: give a positive number of seconds");
        }
        // The library's own lookup: an unknown name is DatagramSocketError.UnknownInterface.
        int ifindex = Cli.InterfaceIndex(s.Interface, "--iface");

        var options = new DatagramSocketOptions
        {
            ReceiveMetadata = ReceiveMetadata.PacketInfo,
            // IPv6 delivers a joined group whatever interface it arrived on: keep to --iface.
            FilterByJoinedInterface = true,
        };
        using DatagramSocket socket = DatagramSocket.Create(group.AddressFamily, options);
        // Bound to the group, not the wildcard: nothing sent to the host's own addresses on this port
        // reaches the listener. A link-scoped IPv6 group needs its interface as the scope.
        // SO_REUSEADDR alone: several listeners may share the port, each with its own filters.
        IPAddress bindTo = group.AddressFamily == AddressFamily.InterNetworkV6 && (group.GetAddressBytes()[1] & 0x0F) <= 2
            ? new IPAddress(group.GetAddressBytes(), ifindex)
            : group;
        socket.Bind(new IPEndPoint(bindTo, s.Port), AddressReuse.ReuseAddress);
        string mode;
        if (sources.Length > 0)
        {
            foreach (IPAddress source in sources) socket.JoinSourceGroup(group, source, s.Interface);
            mode = "source-specific: " + string.Join(", ", sources.Select(a => a.ToString()));
        }
        else
        {
            socket.JoinGroup(group, s.Interface);
            foreach (IPAddress blocked in blocks) socket.BlockSource(group, blocked, s.Interface);
            mode = blocks.Length == 0 ? "any-source" : "any-source, blocking: " + string.Join(", ", blocks.Select(a => a.ToString()));
        }

        int interrupted = 0;
        (_, IDisposable signals) = Cli.OnInterrupt(() =>
        {
            Volatile.Write(ref interrupted, 1);
            socket.Dispose(); // wakes the receive, which returns Closed
        });
        using (signals)
        {
            Console.Error.WriteLine($"listening on {Format(group, s.Port)} via {s.Interface} (index {ifindex}), {mode}");
            Console.Error.Flush();
            return Receive(socket, s, group, () => Volatile.Read(ref interrupted) != 0);
        }
    }

    private static int Receive(DatagramSocket socket, Settings s, IPAddress group, Func<bool> interrupted)
    {
        var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = false, NewLine = "\n" };
        byte[] buffer = new byte[BufferSize];
        long deadline = s.TimeoutSeconds is { } t ? Stopwatch.GetTimestamp() + (long)(t * Stopwatch.Frequency) : long.MaxValue;
        int received = 0;
        while (s.Count is null || received < s.Count)
        {
            TimeSpan wait = Timeout.InfiniteTimeSpan;
            if (deadline != long.MaxValue)
            {
                wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if (wait < TimeSpan.Zero) wait = TimeSpan.Zero;
            }
            ReceiveResult r = socket.ReceiveFrom(buffer, out EndPoint? source, wait);
            switch (r.Status)
            {
                case ReceiveStatus.Received:
                    received++;
                    stdout.WriteLine(FormatDatagram(s.Format, (IPEndPoint)source!, r, group, s.Port, buffer.AsSpan(0, r.BytesReceived)));
                    stdout.Flush();
                    break;
                case ReceiveStatus.TimedOut when s.Count is null:
                    Console.Error.WriteLine($"timeout after {s.TimeoutSeconds} s: {received} datagram(s) received");
                    return ExitCodes.Ok;
                case ReceiveStatus.TimedOut:
                    Console.Error.WriteLine($"timeout after {s.TimeoutSeconds} s: {received} of {s.Count} datagram(s) received");
                    return ExitCodes.Failed;
                case ReceiveStatus.Closed when interrupted():
                    Console.Error.WriteLine($"interrupted: {received} datagram(s) received");
                    return ExitCodes.Interrupted;
                default:
                    return Cli.Fail(ExitCodes.Failed, $"receive failed: {(r.Status == ReceiveStatus.Error ? r.ErrorName : r.Status.ToString())}");
            }
        }
        Console.Error.WriteLine($"received {received} datagram(s)");
        return ExitCodes.Ok;
    }

    private static string Format(IPAddress address, int port) => new IPEndPoint(address, port).ToString();

    internal static string FormatDatagram(string format, IPEndPoint source, in ReceiveResult r, IPAddress group, int port, ReadOnlySpan<byte> payload)
    {
        IPAddress destination = r.GetDestinationAddress() ?? group;
        string? ifname = r.InterfaceIndex > 0 ? NetworkInterfaceNames.GetName(r.InterfaceIndex) : null;
        if (format == "json") return Json(source, destination, port, ifname, r, payload);
        var line = new StringBuilder();
        line.Append(source).Append(" > ").Append(Format(destination, port)).Append(" on ");
        // Linux allows almost any byte in an interface name: escaped like the payload.
        if (ifname is not null) PayloadText.AppendEscaped(line, ifname.AsSpan());
        else line.Append(r.InterfaceIndex > 0 ? "#" + r.InterfaceIndex : "?");
        line.Append(", ").Append(r.DatagramLength).Append(" bytes");
        if (r.Truncated) line.Append(" (truncated to ").Append(r.BytesReceived).Append(')');
        line.Append(": ");
        if (format == "hex") line.Append(Convert.ToHexStringLower(payload));
        else PayloadText.AppendEscaped(line, payload);
        return line.ToString();
    }

    private static string Json(IPEndPoint source, IPAddress destination, int port, string? ifname, in ReceiveResult r, ReadOnlySpan<byte> payload)
    {
        using var stream = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(stream, new System.Text.Json.JsonWriterOptions
        {
            Encoder = PayloadJsonEncoder.Instance,
        }))
        {
            w.WriteStartObject();
            w.WriteString("time", DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("source", source.Address.ToString());
            w.WriteNumber("sourcePort", source.Port);
            w.WriteString("destination", destination.ToString());
            w.WriteNumber("port", port);
            if (ifname is null) w.WriteNull("interface");
            else w.WriteString("interface", ifname);
            w.WriteNumber("interfaceIndex", r.InterfaceIndex);
            w.WriteNumber("length", r.DatagramLength);
            w.WriteBoolean("truncated", r.Truncated);
            w.WriteString("text", Encoding.UTF8.GetString(payload));
            w.WriteString("hex", Convert.ToHexStringLower(payload));
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }
}
