using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Cli;

/// <summary>
/// <c>dgram send DEST --port P [--iface NAME] [--ttl N] [--loop true|false] [--count N] [--duration S] [--rate R]
/// [--size BYTES] [--seq] [--source ADDR] [payload | --file F | -]</c>: sends a payload N times or for S seconds, paced
/// by a token bucket (<see cref="Pacer"/>), and says on stderr what it sent. <c>--ttl</c> is the multicast TTL for a
/// group and the unicast TTL for an address.
/// </summary>
internal static class SendCommand
{
    private const int SequenceBytes = DatagramSource.SequenceBytes;
    private const int MaxSize = 65507; // IPv4's largest UDP payload
    private const double MaxDuration = 31_536_000; // a year: beyond it a typo, not a test

    public static Command Create()
    {
        var destination = new Argument<string>("DEST") { Description = "Where to send: a multicast group or a unicast address (IPv4 or IPv6)." };
        var payload = new Argument<string?>("payload")
        {
            Description = "The payload text; \"-\" reads it from stdin. \"{n}\" is replaced by the sequence number (1..count).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var port = new Option<int>("--port", "-p") { Description = "The destination UDP port.", Required = true };
        Cli.AddPortValidator(port);
        var iface = new Option<string?>("--iface", "-i") { Description = "The interface multicast leaves by (IP_MULTICAST_IF / IPV6_MULTICAST_IF)." };
        var ttl = new Option<int?>("--ttl")
        {
            Description = "TTL / hop limit: to a group the multicast TTL (-1-255; -1 = the default, 1), to a unicast address the unicast TTL (1-255, or -1 = the default, 64).",
        };
        var loop = new Option<string?>("--loop") { Description = "Multicast loopback to local listeners: true or false." };
        loop.AcceptOnlyFromAmong("true", "false");
        var count = new Option<long?>("--count", "-c") { Description = "How many datagrams to send (default 1, or no limit with --duration)." };
        var duration = new Option<double?>("--duration", "-t") { Description = "Send for this many seconds (iperf's -t); with --count, whichever ends first." };
        var rate = new Option<string?>("--rate", "-r")
        {
            Description = "Datagrams/s as a plain number (2000), or payload bits/s with a decimal unit k, M or G (M = 10^6) as iperf's -b (64k, 100M, 1.5G). Default: as fast as possible.",
        };
        var size = new Option<int?>("--size", "-l") { Description = "Payload bytes per datagram: the payload padded with zero bytes (default: the payload's own size)." };
        var seq = new Option<bool>("--seq")
        {
            Description = "Start each payload with a 4-byte big-endian sequence number (from 1, as iperf2's datagram id; 'listen --seq' counts loss from it).",
        };
        var source = new Option<string?>("--source", "-s") { Description = "The source address to send from (bind to it)." };
        var file = new Option<string?>("--file", "-f") { Description = "Read the payload from this file (\"-\": stdin)." };

        var command = new Command("send", "Send datagrams to a group or address.")
        {
            destination, payload, port, iface, ttl, loop, count, duration, rate, size, seq, source, file,
        };
        command.SetAction(r => Cli.Run(() => Run(new Settings(
            r.GetValue(destination)!, r.GetValue(payload), r.GetValue(file), r.GetValue(port), r.GetValue(iface),
            r.GetValue(ttl), r.GetValue(loop) is { } l ? l == "true" : null, r.GetValue(count), r.GetValue(duration),
            r.GetValue(rate), r.GetValue(size), r.GetValue(seq), r.GetValue(source)))));
        return command;
    }

    private sealed record Settings(string Destination, string? Payload, string? File, int Port, string? Interface,
        int? Ttl, bool? Loop, long? Count, double? Duration, string? Rate, int? Size, bool Seq, string? Source);

    private static int Run(Settings s)
    {
        IPAddress destination = Cli.ParseAddress(s.Destination, "DEST");
        IPAddress? source = s.Source is null ? null : Cli.ParseAddress(s.Source, "--source");
        if (source is not null && source.AddressFamily != destination.AddressFamily)
        {
            throw CliException.BadInput(
                $"family mismatch: --source {source} is {Cli.FamilyName(source)} but DEST {destination} is {Cli.FamilyName(destination)}");
        }
        // Linux accepts a bind to a multicast or broadcast address but then picks the source by route:
        // the datagram would leave from another address than the one asked for.
        if (source is not null && (DatagramSocket.IsMulticast(source) || source.Equals(IPAddress.Broadcast)))
        {
            throw CliException.BadInput($"--source {source} is not a unicast address: give an address of this host to send from");
        }
        if (s.Count is < 1) throw CliException.BadInput($"--count {s.Count} is out of range: give 1 or more");
        if (s.Duration is { } d && (!(d > 0) || d > MaxDuration))
        {
            throw CliException.BadInput($"--duration {d} is out of range: give seconds, more than 0 and at most {MaxDuration}");
        }
        if (s.Size is < 1 or > MaxSize) throw CliException.BadInput($"--size {s.Size} is out of range: a UDP payload is 1 to {MaxSize} bytes");
        if (s.Seq && s.Size is < SequenceBytes) throw CliException.BadInput($"--size {s.Size} is too small for --seq: give {SequenceBytes} or more");
        SendRate? rate = s.Rate is null ? null : SendRate.Parse(s.Rate);
        int ifindex = s.Interface is null ? 0 : Cli.InterfaceIndex(s.Interface, "--iface");
        byte[] payload = s.Payload is null && s.File is null && (s.Size is not null || s.Seq) ? [] : ReadPayload(s);
        var datagrams = new DatagramSource(payload, s.Seq, s.Size);

        using DatagramSocket socket = DatagramSocket.Create(destination.AddressFamily);
        if (source is not null) socket.Bind(new IPEndPoint(source, 0));
        if (s.Interface is not null)
        {
            socket.SetMulticastInterface(s.Interface);
            // A link-scoped IPv6 destination needs its interface as scope id.
            if (destination.AddressFamily == AddressFamily.InterNetworkV6 && destination.ScopeId == 0
                && (destination.IsIPv6LinkLocal || (destination.IsIPv6Multicast && (destination.GetAddressBytes()[1] & 0x0F) <= 2)))
            {
                destination = new IPAddress(destination.GetAddressBytes(), ifindex);
            }
        }
        if (s.Ttl is { } ttl)
        {
            if (DatagramSocket.IsMulticast(destination)) socket.SetMulticastTtl(ttl);
            else socket.SetUnicastTtl(ttl);
        }
        if (s.Loop is { } loop) socket.SetMulticastLoop(loop);

        var endpoint = new IPEndPoint(destination, s.Port);
        long count = s.Count ?? (s.Duration is null ? 1 : long.MaxValue);
        (CancellationTokenSource cts, IDisposable signals) = Cli.OnInterrupt();
        using (signals)
        {
            var sender = new PacedSender(socket, endpoint, datagrams, rate?.DatagramsPerSecond(datagrams.Size));
            SendTally tally = sender.Run(count, s.Duration, cts.Token);
            if (tally.Failure is { } failed)
            {
                string of = count == long.MaxValue ? "" : $" of {count}";
                Cli.Fail(ExitCodes.Failed, $"send {tally.Datagrams + tally.Errors + 1}{of} to {endpoint} failed: {Why(failed, destination, s.Interface)}");
            }
            // A run the first datagram ended has nothing to sum up beyond the failure.
            if (tally.Failure is null || tally.Datagrams + tally.Errors > 0)
            {
                string summary = tally.Summary(endpoint);
                Console.Error.WriteLine(cts.IsCancellationRequested ? "interrupted: " + summary : summary);
            }
            return tally.Failure is not null ? ExitCodes.Failed : cts.IsCancellationRequested ? ExitCodes.Interrupted : ExitCodes.Ok;
        }
    }

    /// <summary>
    /// Why a send failed; for ENETUNREACH without --iface, the way out. A namespace or host without a default route has
    /// no route for a group, so the kernel needs the interface named (lo alone refuses IPv6 multicast the same way).
    /// </summary>
    private static string Why(BatchSendResult r, IPAddress destination, string? iface)
    {
        if (r.Status != SendStatus.Error) return r.Status.ToString();
        if (r.Errno != Errno.ENETUNREACH || iface is not null) return r.ErrorName!;
        return DatagramSocket.IsMulticast(destination)
            ? $"ENETUNREACH: there is no route to {destination}; name the interface to send by with --iface (interfaces: 'dgram info')"
            : $"ENETUNREACH: there is no route to {destination} ('ip route' shows the routes; --iface names the interface for multicast only)";
    }

    /// <summary>The payload from the argument, a file, or stdin ("-" as the argument or the file).</summary>
    private static byte[] ReadPayload(Settings s)
    {
        if (s.Payload is not null && s.File is not null)
        {
            throw CliException.BadInput("give the payload once: as an argument, with --file, or \"-\" for stdin");
        }
        string? from = s.File ?? (s.Payload == "-" ? "-" : null);
        if (from is null)
        {
            return s.Payload is null
                ? throw CliException.BadInput("missing payload: give it as an argument, with --file FILE, or \"-\" to read stdin")
                : Encoding.UTF8.GetBytes(s.Payload);
        }
        if (from == "-")
        {
            using Stream stdin = Console.OpenStandardInput();
            using var buffer = new MemoryStream();
            stdin.CopyTo(buffer);
            return buffer.ToArray();
        }
        try
        {
            return File.ReadAllBytes(from);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CliException.BadInput($"cannot read --file \"{from}\": {e.Message}");
        }
    }
}
