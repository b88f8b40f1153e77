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
/// [--count N] [--timeout SECONDS] [--stats SECONDS] [--seq]</c>: joins a group and prints one line per
/// datagram; every exit ends with a summary on stderr (what was received, what the kernel dropped).
/// </summary>
/// <remarks>
/// Built to keep up with a 100 Mbit/s feed: datagrams come in batches (recvmmsg, <see cref="BatchSize"/> a
/// call) into a receive queue of <see cref="ReceiveBufferBytes"/>, lines are formatted into one large
/// buffer without allocating, and that buffer reaches stdout when it fills or the socket goes idle.
/// </remarks>
internal static class ListenCommand
{
    private const int BufferSize = 65536; // larger than any UDP datagram without jumbograms
    private const int BatchSize = 64;
    private const int ReceiveBufferBytes = 4 << 20; // ~20k datagrams of 200 B: a 300 ms stall at 65k/s

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

        var stats = new Option<double?>("--stats") { Description = "Print a line per interval of this many seconds to stderr: datagrams, bytes, rate, kernel drops." };
        var seq = new Option<bool>("--seq")
        {
            Description = "Read the first 4 payload bytes as a big-endian sequence number (iperf2, dgram send --seq); report lost, out of order and duplicates per source.",
        };

        var command = new Command("listen", "Join a group on an interface and print each datagram with its source, destination and arrival interface.")
        {
            group, port, iface, sources, blocks, format, json, count, timeout, stats, seq,
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
                chosen, r.GetValue(count), r.GetValue(timeout), r.GetValue(stats), r.GetValue(seq)));
        }));
        return command;
    }

    private sealed record Settings(string Group, int Port, string Interface, string[] Sources, string[] Blocks, string Format, int? Count, double? TimeoutSeconds,
        double? StatsSeconds, bool Seq);

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
        if (s.StatsSeconds is { } st && (!(st >= 0.01) || double.IsInfinity(st) || st > int.MaxValue / 1000.0))
        {
            throw CliException.BadInput($"--stats {st} is out of range: give an interval of 0.01 seconds or more");
        }
        // The library's own lookup: an unknown name is DatagramSocketError.UnknownInterface.
        int ifindex = Cli.InterfaceIndex(s.Interface, "--iface");

        var options = new DatagramSocketOptions
        {
            // QueueOverflow: the kernel's drop count rides on each datagram (SO_RXQ_OVFL), for the summary.
            ReceiveMetadata = ReceiveMetadata.PacketInfo | ReceiveMetadata.QueueOverflow,
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
        BufferSizeResult rcvbuf = socket.SetReceiveBufferSize(ReceiveBufferBytes);
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
            string capped = rcvbuf.Capped ? ", capped by net.core.rmem_max" : "";
            Console.Error.WriteLine($"listening on {Format(group, s.Port)} via {s.Interface} (index {ifindex}), {mode}; "
                + $"receive buffer {rcvbuf.Effective} bytes (asked {ReceiveBufferBytes}{capped})");
            Console.Error.Flush();
            return Receive(socket, s, group, () => Volatile.Read(ref interrupted) != 0);
        }
    }

    private static int Receive(DatagramSocket socket, Settings s, IPAddress group, Func<bool> interrupted)
    {
        using Stream stdoutStream = Console.OpenStandardOutput();
        var output = new OutputBuffer(stdoutStream);
        var formatter = new DatagramFormatter(s.Format, group, s.Port, output);
        var tally = new ListenTally();
        SequenceTracker? sequences = s.Seq ? new SequenceTracker() : null;
        using var batch = new DatagramBatch(BatchSize, BufferSize);
        long deadline = s.TimeoutSeconds is { } t ? Stopwatch.GetTimestamp() + (long)(t * Stopwatch.Frequency) : long.MaxValue;
        long statsEvery = s.StatsSeconds is { } st ? (long)(st * Stopwatch.Frequency) : 0;
        long nextStats = statsEvery > 0 ? Stopwatch.GetTimestamp() + statsEvery : long.MaxValue;
        string? ending = null;
        int exitCode = ExitCodes.Ok;
        while (ending is null)
        {
            long now = Stopwatch.GetTimestamp();
            if (now >= nextStats)
            {
                output.Flush(); // the interval line follows the datagrams it counts
                Console.Error.WriteLine(tally.IntervalLine(now, sequences?.Lost));
                nextStats += statsEvery;
                if (nextStats <= now) nextStats = now + statsEvery; // a stall longer than an interval: no burst of empty lines
            }
            if (s.Count is { } wanted && tally.Received >= wanted)
            {
                ending = $"received {tally.Received} datagram(s)";
                break;
            }
            // Output waiting: only look for more (no wait); an idle socket gets it flushed first.
            long until = Math.Min(deadline, nextStats);
            TimeSpan wait = output.Pending > 0 ? TimeSpan.Zero
                : until == long.MaxValue ? Timeout.InfiniteTimeSpan
                : Stopwatch.GetElapsedTime(now, Math.Max(now, until));
            BatchReceiveResult r = socket.ReceiveBatch(batch, wait);
            switch (r.Status)
            {
                case ReceiveStatus.Received:
                    now = Stopwatch.GetTimestamp();
                    for (int i = 0; i < r.Count && (s.Count is null || tally.Received < s.Count); i++)
                    {
                        tally.Add(batch, i, now);
                        sequences?.Add(batch, i);
                        formatter.Write(batch, i);
                    }
                    break;
                case ReceiveStatus.TimedOut when output.Pending > 0:
                    output.Flush();
                    break;
                case ReceiveStatus.TimedOut when Stopwatch.GetTimestamp() < deadline:
                    break; // a --stats tick
                case ReceiveStatus.TimedOut when s.Count is null:
                    ending = $"timeout after {s.TimeoutSeconds} s: {tally.Received} datagram(s) received";
                    break;
                case ReceiveStatus.TimedOut:
                    ending = $"timeout after {s.TimeoutSeconds} s: {tally.Received} of {s.Count} datagram(s) received";
                    exitCode = ExitCodes.Failed;
                    break;
                case ReceiveStatus.Closed when interrupted():
                    ending = $"interrupted: {tally.Received} datagram(s) received";
                    exitCode = ExitCodes.Interrupted;
                    break;
                default:
                    ending = $"receive failed: {(r.Status == ReceiveStatus.Error ? Dgram.Actors.Sockets.Native.Errno.Name(r.Errno) : r.Status.ToString())}";
                    exitCode = ExitCodes.Failed;
                    break;
            }
        }
        output.Flush();
        if (exitCode == ExitCodes.Failed && ending.StartsWith("receive failed", StringComparison.Ordinal)) Cli.Fail(exitCode, ending);
        else Console.Error.WriteLine(ending);
        Console.Error.WriteLine(tally.SummaryLine(socket.Statistics.FilteredByInterface));
        if (sequences is not null)
        {
            foreach (string line in sequences.SummaryLines()) Console.Error.WriteLine(line);
        }
        Console.Error.Flush();
        return exitCode;
    }

    private static string Format(IPAddress address, int port) => new IPEndPoint(address, port).ToString();
}
