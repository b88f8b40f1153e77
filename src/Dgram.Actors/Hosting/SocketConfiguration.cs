using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Microsoft.Extensions.Configuration;

namespace Dgram.Actors.Hosting;

/// <summary>A socket setting that is missing or malformed; the message names the setting's path.</summary>
public sealed class DgramConfigurationException(string setting, string problem, Exception? inner = null)
    : Exception($"{setting}: {problem}", inner)
{
    /// <summary>The configuration path of the setting (e.g. <c>Dgram:Sockets:rx:Groups:0:Group</c>).</summary>
    public string Setting { get; } = setting;
}

/// <summary>
/// Reads socket settings from configuration, one section per socket, and validates them before any
/// socket exists. Keys: Family (IPv4|IPv6|Unix), Bind ("address:port", "[v6]:port" or a Unix path),
/// ReuseAddress, Interface (outgoing multicast interface name), Ttl, Loop, ReceiveBufferSize, AbsentInterface
/// (Pending|Fail), BatchSize, SendBatchSize, MaxDatagramSize, DedicatedReadThread, Groups (list of { Group, Interface, Sources[] | Block[] }).
/// Any other key under a socket or a group is an error naming the nearest valid key.
/// </summary>
internal static class SocketConfiguration
{
    /// <summary>
    /// Reads every child of <paramref name="section"/> as a socket named after its key, and checks the
    /// sockets against each other (no two on one port or Unix path unless both set ReuseAddress).
    /// </summary>
    public static IReadOnlyList<SocketSettings> ReadAll(IConfiguration section)
    {
        IConfigurationSection[] sections = section.GetChildren().ToArray();
        SocketSettings[] sockets = sections.Select(Read).ToArray();
        if (SettingsValidator.FindBindClash(sockets) is { } clash)
        {
            throw new DgramConfigurationException(sections[clash.Index].Path + ":Bind", clash.Problem);
        }
        return sockets;
    }

    /// <summary>Reads one socket section; throws <see cref="DgramConfigurationException"/> naming the bad setting.</summary>
    public static SocketSettings Read(IConfigurationSection section)
    {
        string path = section.Path;
        if (section.Value is { Length: > 0 } && !section.GetChildren().Any())
        {
            throw new DgramConfigurationException(path, $"expected a socket section, found the value '{section.Value}'");
        }
        var s = new StrictSection(section);
        AddressFamily family = (s["Family"] ?? "IPv4").ToUpperInvariant() switch
        {
            "IPV4" or "INTERNETWORK" => AddressFamily.InterNetwork,
            "IPV6" or "INTERNETWORKV6" => AddressFamily.InterNetworkV6,
            "UNIX" => AddressFamily.Unix,
            var other => throw new DgramConfigurationException(path + ":Family", $"'{other}' is not IPv4, IPv6 or Unix"),
        };
        var groups = new List<GroupSettings>();
        foreach (StrictSection g in s.Sections("Groups"))
        {
            IPAddress group = RequiredAddress(g, "Group", family);
            if (!DatagramSocket.IsMulticast(group)) throw new DgramConfigurationException(g.Path + ":Group", $"{group} is not a multicast address");
            groups.Add(new GroupSettings(group, g["Interface"],
                g.Values("Sources").Select(x => AddressValue(x, family)).ToArray(),
                g.Values("Block").Select(x => AddressValue(x, family)).ToArray()));
            g.RejectUnknownKeys();
        }
        var settings = new SocketSettings
        {
            Name = section.Key,
            Family = family,
            LocalEndPoint = s["Bind"] is { } bind ? EndPointValue(path + ":Bind", bind, family) : null,
            Reuse = Bool(s, "ReuseAddress") == true ? AddressReuse.ReuseAddress : AddressReuse.None,
            MulticastInterface = s["Interface"],
            MulticastTtl = Int(s, "Ttl"),
            MulticastLoop = Bool(s, "Loop"),
            ReceiveBufferSize = Int(s, "ReceiveBufferSize"),
            BatchSize = Int(s, "BatchSize") ?? 16,
            SendBatchSize = Int(s, "SendBatchSize") ?? 64,
            MaxDatagramSize = Int(s, "MaxDatagramSize") ?? 65535,
            DedicatedReadThread = Bool(s, "DedicatedReadThread") ?? false,
            MaxQueuedCommands = Int(s, "MaxQueuedCommands") ?? 10_000,
            BindFailure = (s["BindFailure"] ?? "Fail").ToUpperInvariant() switch
            {
                "FAIL" => BindFailurePolicy.Fail,
                "RETRY" => BindFailurePolicy.Retry,
                var other => throw new DgramConfigurationException(path + ":BindFailure", $"'{other}' is not Fail or Retry"),
            },
            AbsentInterface = (s["AbsentInterface"] ?? "Pending").ToUpperInvariant() switch
            {
                "PENDING" => AbsentInterfacePolicy.Pending,
                "FAIL" => AbsentInterfacePolicy.Fail,
                var other => throw new DgramConfigurationException(path + ":AbsentInterface", $"'{other}' is not Pending or Fail"),
            },
            Groups = groups,
        };
        s.RejectUnknownKeys();
        try
        {
            settings.Validate();
        }
        catch (DatagramSocketException e)
        {
            // Validate names SocketSettings properties ("MulticastTtl=300", "Groups[3].Sources[1]"): report the configuration key.
            string arguments = e.Arguments ?? "";
            int eq = arguments.IndexOf('=', StringComparison.Ordinal);
            string key = ConfigurationKey(eq < 0 ? arguments : arguments[..eq]);
            string problem = e.Detail ?? e.Message;
            throw new DgramConfigurationException(key.Length == 0 ? path : path + ":" + key, eq < 0 ? problem : $"{arguments[(eq + 1)..]}: {problem}");
        }
        return settings;
    }

    /// <summary>
    /// The configuration key under a socket's section for a <see cref="SocketSettings"/> property path:
    /// "Groups[3].BlockedSources[1]" is "Groups:3:Block:1"; "Name" is the socket's section itself ("").
    /// </summary>
    internal static string ConfigurationKey(string property) =>
        string.Join(':', property.Replace("]", "", StringComparison.Ordinal).Split('.', '[').Select(part => part switch
        {
            "Name" => null,
            "MulticastTtl" => "Ttl",
            "MulticastLoop" => "Loop",
            "MulticastInterface" or "InterfaceName" => "Interface",
            "LocalEndPoint" => "Bind",
            "Reuse" => "ReuseAddress",
            "BlockedSources" => "Block",
            _ => part,
        }).OfType<string>());

    private static IPAddress RequiredAddress(StrictSection s, string key, AddressFamily family) =>
        AddressValue(s.Path + ":" + key, s[key] ?? throw new DgramConfigurationException(s.Path + ":" + key, "missing"), family);

    private static IPAddress AddressValue(IConfigurationSection s, AddressFamily family) => AddressValue(s.Path, s.Value, family);

    private static IPAddress AddressValue(string path, string? text, AddressFamily family)
    {
        if (!TryParseStrict(text, out IPAddress? a)) throw new DgramConfigurationException(path, $"'{text}' is not an IP address");
        if (a.AddressFamily != family) throw new DgramConfigurationException(path, $"{a} is {a.AddressFamily}; the socket is {family}");
        return a;
    }

    private static EndPoint EndPointValue(string path, string text, AddressFamily family)
    {
        if (family == AddressFamily.Unix)
        {
            try
            {
                return new UnixDomainSocketEndPoint(text);
            }
            catch (ArgumentOutOfRangeException)
            {
                throw new DgramConfigurationException(path, $"'{text}' is not a Unix socket path (1 to 107 bytes, or an abstract name)");
            }
        }
        int colon = text.LastIndexOf(':');
        bool hasPort = colon > 0 && (text[0] != '[' || text[colon - 1] == ']') && (family == AddressFamily.InterNetwork || text[0] == '[');
        if (!hasPort || !IPEndPoint.TryParse(text, out IPEndPoint? ep) || !TryParseStrict(text[..colon].Trim('[', ']'), out _))
        {
            throw new DgramConfigurationException(path, $"'{text}' is not address:port (IPv6 as [address]:port)");
        }
        if (ep.AddressFamily != family) throw new DgramConfigurationException(path, $"{ep.Address} is {ep.AddressFamily}; the socket is {family}");
        return ep;
    }

    /// <summary>
    /// IPAddress.TryParse also takes inet_aton shorthands ("232.1.1" is 232.1.0.1, "5" is 0.0.0.5);
    /// a configuration file that says that almost surely has a typo, so IPv4 needs four parts.
    /// </summary>
    private static bool TryParseStrict(string? text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        if (string.IsNullOrWhiteSpace(text)) return false;
        if (!text.Contains(':') && text.Split('.').Length != 4) return false;
        return IPAddress.TryParse(text, out address);
    }

    private static int? Int(StrictSection s, string key) =>
        s[key] is not { } text ? null
        : int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v
        : throw new DgramConfigurationException(s.Path + ":" + key, $"'{text}' is not an integer");

    private static bool? Bool(StrictSection s, string key) =>
        s[key] is not { } text ? null
        : bool.TryParse(text, out bool v) ? v
        : throw new DgramConfigurationException(s.Path + ":" + key, $"'{text}' is not true or false");
}
