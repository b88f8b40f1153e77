using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Dgram.Actors.Sockets;

namespace Dgram.Cluster;

/// <summary>
/// One multicast group carried between sites: the same <see cref="Name"/> on every site names the same stream.
/// </summary>
/// <param name="Name">The stream's name, the same on every site (letters, digits, <c>-</c>, <c>_</c>, <c>.</c>; at most 64).</param>
/// <param name="Group">The multicast group (IPv4 or IPv6), the same on every site.</param>
/// <param name="Port">The group's UDP port.</param>
public sealed record BridgeGroup(string Name, IPAddress Group, int Port)
{
    /// <summary>
    /// Source-specific: ingress joins (S, G) for each of these sources only. Empty: any source (ASM), except the
    /// site's own bridge nodes (<see cref="BridgeSettings.EmitterAddresses"/>), which ingress blocks.
    /// </summary>
    public IReadOnlyList<IPAddress> Sources { get; init; } = [];

    /// <summary>Carry what this site's segment receives to the peer sites (default true).</summary>
    public bool Ingress { get; init; } = true;

    /// <summary>Re-emit what the peer sites carry here onto this site's segment (default true).</summary>
    public bool Emit { get; init; } = true;

    /// <summary>Multicast TTL / hop limit of re-emitted datagrams (default 1: this segment only).</summary>
    public int Ttl { get; init; } = 1;

    /// <summary>The group's family.</summary>
    public AddressFamily Family => Group.AddressFamily;
}

/// <summary>
/// A site's bridge: which groups it carries, on which interface, and the peer sites it carries them to. Every
/// node of the site's cluster runs the same settings; per group one ingress and one re-emitter run on the site
/// (inside one cluster singleton), and move to another node when their node leaves or fails.
/// </summary>
public sealed record BridgeSettings
{
    /// <summary>The largest envelope body: below Akka.Remote's default <c>maximum-frame-size</c> (128,000 B) with room for the header.</summary>
    public const int MaxEnvelopeBytes = 120_000;

    /// <summary>This site's name (as the peers know it).</summary>
    public required string Site { get; init; }

    /// <summary>The site's segment: ingress joins here, re-emission leaves here (an interface name, the same on every node of the site).</summary>
    public required string Interface { get; init; }

    /// <summary>
    /// The addresses this site's bridge nodes re-emit from (their addresses on <see cref="Interface"/>). Ingress blocks
    /// them (no datagram is bridged twice); a consumer of a source-specific group on this site joins with all of
    /// them as sources, so it keeps receiving when re-emission moves to another node.
    /// </summary>
    public IReadOnlyList<IPAddress> EmitterAddresses { get; init; } = [];

    /// <summary>
    /// The peer sites: name → contact points, the Akka addresses of some of that site's nodes
    /// (<c>akka.tcp://system@host:port</c>); their cluster receptionist is reached through a <c>ClusterClient</c>.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Peers { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>The groups carried.</summary>
    public IReadOnlyList<BridgeGroup> Groups { get; init; } = [];

    /// <summary>Datagrams per envelope at most (default 64). An envelope also goes when a read drains the socket.</summary>
    public int MaxBatchDatagrams { get; init; } = 64;

    /// <summary>Envelope body bytes at most (default 100,000; at most <see cref="MaxEnvelopeBytes"/>, at least one largest datagram).</summary>
    public int MaxBatchBytes { get; init; } = 100_000;

    /// <summary>
    /// Envelopes sent to one peer for one group and not yet acknowledged, at most (default 4,096): beyond it (or
    /// <see cref="MaxInFlightBytes"/>) ingress drops and counts, so a slow or cut link costs bounded memory, and the
    /// peer's re-emitter counts the gap as loss. The window must cover the round trip: at low rates an envelope holds
    /// one datagram, so 10,000 datagrams/s over a 100 ms round trip need 1,000 (plus the 20 ms acknowledgement delay).
    /// </summary>
    public int MaxInFlightEnvelopes { get; init; } = 4096;

    /// <summary>Envelope bytes sent to one peer for one group and not yet acknowledged, at most (default 8 MiB).</summary>
    public int MaxInFlightBytes { get; init; } = 8 << 20;

    /// <summary>With the window full and no acknowledgement for this long, the window is written off (counted) and sending resumes (default 1 s).</summary>
    public TimeSpan AckTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The ingress socket's receive buffer (SO_RCVBUF, default 4 MiB; the kernel caps it at net.core.rmem_max): a burst
    /// the bridge cannot take at once waits there, and what overflows it is counted as the socket's kernel drops.
    /// </summary>
    public int ReceiveBufferSize { get; init; } = 4 << 20;

    /// <summary>How often each ingress and re-emitter logs its counters when they changed (default 1 s; zero: never).</summary>
    public TimeSpan StatsInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        CheckName(Site, nameof(Site));
        if (string.IsNullOrWhiteSpace(Interface)) throw Bad(nameof(Interface), "an interface name is required");
        if (Interface.Length > 15 || Interface.Any(c => c is '/' or ':' || char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw Bad(nameof(Interface), $"'{Interface}' is not an interface name (at most 15 characters, no '/', ':' or spaces)");
        }
        if (Groups.Count == 0) throw Bad(nameof(Groups), "at least one group is required");
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Groups.Count; i++)
        {
            BridgeGroup g = Groups[i];
            string at = $"{nameof(Groups)}[{i}]";
            CheckName(g.Name, at + ".Name");
            if (!names.Add(g.Name)) throw Bad(at, "the name is used twice");
            if (!DatagramSocket.IsMulticast(g.Group)) throw Bad(at + ".Group", $"{g.Group} is not a multicast address");
            if (g.Port is < 1 or > 65535) throw Bad(at + ".Port", $"{g.Port} is not a port (1-65535)");
            if (g.Ttl is < 1 or > 255) throw Bad(at + ".Ttl", $"{g.Ttl} is not a TTL (1-255)");
            if (!g.Ingress && !g.Emit) throw Bad(at, "neither Ingress nor Emit: the group does nothing");
            foreach (IPAddress s in g.Sources)
            {
                if (s.AddressFamily != g.Family) throw Bad(at + ".Sources", $"{s} is not of the group's family");
                if (DatagramSocket.IsMulticast(s)) throw Bad(at + ".Sources", $"{s} is a multicast address");
            }
        }
        foreach (IPAddress a in EmitterAddresses)
        {
            if (DatagramSocket.IsMulticast(a) || a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any)) throw Bad(nameof(EmitterAddresses), $"{a} is not a unicast address");
        }
        if (Peers.Count == 0) throw Bad(nameof(Peers), "at least one peer site is required");
        foreach (var (site, contacts) in Peers)
        {
            CheckName(site, $"{nameof(Peers)}[{site}]");
            if (site == Site) throw Bad($"{nameof(Peers)}[{site}]", "a site is not its own peer");
            if (contacts.Count == 0) throw Bad($"{nameof(Peers)}[{site}]", "at least one contact address is required");
            foreach (string c in contacts)
            {
                if (!ActorPath.TryParse(c.TrimEnd('/') + "/system/receptionist", out ActorPath? path) || path.Address.Host is null || path.Address.Port is null)
                {
                    throw Bad($"{nameof(Peers)}[{site}]", $"'{c}' is not an Akka address (akka.tcp://system@host:port)");
                }
            }
        }
        if (MaxBatchDatagrams is < 1 or > 1024) throw Bad(nameof(MaxBatchDatagrams), $"{MaxBatchDatagrams} is outside 1-1024");
        if (MaxBatchBytes < Internal.BridgeBatch.MaxRecordBytes || MaxBatchBytes > MaxEnvelopeBytes)
        {
            throw Bad(nameof(MaxBatchBytes), $"{MaxBatchBytes} is outside {Internal.BridgeBatch.MaxRecordBytes}-{MaxEnvelopeBytes} (one largest datagram at least, below the remoting frame)");
        }
        if (MaxInFlightEnvelopes is < 1 or > 100_000) throw Bad(nameof(MaxInFlightEnvelopes), $"{MaxInFlightEnvelopes} is outside 1-100000");
        if (MaxInFlightBytes < MaxBatchBytes || MaxInFlightBytes > 1 << 30) throw Bad(nameof(MaxInFlightBytes), $"{MaxInFlightBytes} is outside {MaxBatchBytes} (MaxBatchBytes)-1073741824");
        if (ReceiveBufferSize is < 4096 or > 1 << 30) throw Bad(nameof(ReceiveBufferSize), $"{ReceiveBufferSize} is outside 4096-1073741824");
        if (AckTimeout <= TimeSpan.Zero) throw Bad(nameof(AckTimeout), "must be positive");
        if (StatsInterval < TimeSpan.Zero) throw Bad(nameof(StatsInterval), "must not be negative");
    }

    /// <summary>A site's or group's name: 1–64 letters, digits, '-', '_', '.' (it goes into logs, paths and metric tags).</summary>
    internal static bool IsName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    private static void CheckName(string? name, string setting)
    {
        if (!IsName(name))
        {
            throw Bad(setting, $"'{name}' is not a name (1-64 letters, digits, '-', '_', '.')");
        }
    }

    private static ArgumentException Bad(string setting, string problem) => new($"bridge setting {setting}: {problem}", setting);
}
