using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Cli;

/// <summary>
/// <c>dgram send DEST --port P [--iface NAME] [--ttl N] [--loop true|false] [--count N] [--rate PER_SECOND]
/// [--source ADDR] [payload | --file F | -]</c>: sends a payload, N times, optionally paced. <c>--ttl</c> is the multicast
/// TTL for a group and the unicast TTL for an address.
/// </summary>
internal static class SendCommand
{
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(5);
    private static readonly byte[] SequenceToken = "{n}"u8.ToArray();

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
        var count = new Option<int>("--count", "-c") { Description = "How many datagrams to send.", DefaultValueFactory = _ => 1 };
        var rate = new Option<double?>("--rate", "-r") { Description = "Datagrams per second (default: as fast as possible)." };
        var source = new Option<string?>("--source", "-s") { Description = "The source address to send from (bind to it)." };
        var file = new Option<string?>("--file", "-f") { Description = "Read the payload from this file (\"-\": stdin)." };

        var command = new Command("send", "Send datagrams to a group or address.")
        {
            destination, payload, port, iface, ttl, loop, count, rate, source, file,
        };
        command.SetAction(r => Cli.Run(() => Run(new Settings(
            r.GetValue(destination)!, r.GetValue(payload), r.GetValue(file), r.GetValue(port), r.GetValue(iface),
            r.GetValue(ttl), r.GetValue(loop) is { } l ? l == "true" : null, r.GetValue(count), r.GetValue(rate), r.GetValue(source)))));
        return command;
    }

    private sealed record Settings(string Destination, string? Payload, string? File, int Port, string? Interface,
        int? Ttl, bool? Loop, int Count, double? Rate, string? Source);

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
        if (s.Count < 1) throw CliException.BadInput($"--count {s.Count} is out of range: give 1 or more");
        if (s.Rate is { } rate && (!(rate > 0) || double.IsInfinity(rate)))
        {
            throw CliException.BadInput($"--rate {rate} is out of range: give a positive number of datagrams per second");
        }
        int ifindex = s.Interface is null ? 0 : Cli.InterfaceIndex(s.Interface, "--iface");
        byte[] payload = ReadPayload(s);

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
        int at = payload.AsSpan().IndexOf(SequenceToken);
        long interval = s.Rate is { } perSecond ? (long)(Stopwatch.Frequency / perSecond) : 0;
        (CancellationTokenSource cts, IDisposable signals) = Cli.OnInterrupt();
        using (signals)
        {
            long start = Stopwatch.GetTimestamp();
            long bytes = 0;
            for (int n = 1; n <= s.Count; n++)
            {
                if (interval > 0 && n > 1)
                {
                    TimeSpan wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), start + interval * (n - 1));
                    if (wait > TimeSpan.Zero) cts.Token.WaitHandle.WaitOne(wait);
                }
                if (cts.IsCancellationRequested)
                {
                    Console.Error.WriteLine($"interrupted: sent {n - 1} datagram(s) to {endpoint}");
                    return ExitCodes.Interrupted;
                }
                byte[] datagram = at < 0 ? payload : Substitute(payload, n);
                SendResult r = socket.SendTo(datagram, endpoint, SendTimeout);
                if (r.Status != SendStatus.Sent)
                {
                    return Cli.Fail(ExitCodes.Failed, $"send {n} of {s.Count} to {endpoint} failed: {Why(r, destination, s.Interface)}");
                }
                bytes += r.BytesSent;
            }
            Console.Error.WriteLine($"sent {s.Count} datagram(s), {bytes} bytes, to {endpoint}");
            return ExitCodes.Ok;
        }
    }

    /// <summary>
    /// Why a send failed; for ENETUNREACH without --iface, the way out. A namespace or host without a default route has
    /// no route for a group, so the kernel needs the interface named (lo alone refuses IPv6 multicast the same way).
    /// </summary>
    private static string Why(SendResult r, IPAddress destination, string? iface)
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

    /// <summary>The payload with every "{n}" replaced by the sequence number.</summary>
    private static byte[] Substitute(byte[] payload, int n)
    {
        byte[] number = Encoding.ASCII.GetBytes(n.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var result = new List<byte>(payload.Length + 8);
        ReadOnlySpan<byte> rest = payload;
        int at;
        while ((at = rest.IndexOf(SequenceToken)) >= 0)
        {
            result.AddRange(rest[..at]);
            result.AddRange(number);
            rest = rest[(at + SequenceToken.Length)..];
        }
        result.AddRange(rest);
        return [.. result];
    }
}
