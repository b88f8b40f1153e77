using System.Globalization;
using System.Net;
using Dgram.Actors.Hosting;
using Microsoft.Extensions.Configuration;

namespace Dgram.Cluster.Internal;

/// <summary>
/// Reads <see cref="BridgeSettings"/> from a configuration section as strictly as the sockets' (an unknown key is an
/// error naming the nearest valid one; every value is parsed and checked before anything starts).
/// </summary>
internal static class BridgeConfiguration
{
    public static BridgeSettings Read(IConfiguration configuration)
    {
        if (configuration is not IConfigurationSection section || !section.GetChildren().Any())
        {
            throw new DgramConfigurationException((configuration as IConfigurationSection)?.Path ?? "(root)", "the bridge's section is missing or empty");
        }
        var s = new StrictSection(section);
        var groups = new List<BridgeGroup>();
        foreach (StrictSection g in s.Sections("Groups"))
        {
            IPAddress group = Address(g, "Group") ?? throw new DgramConfigurationException(g.Path + ":Group", "missing");
            groups.Add(new BridgeGroup(g["Name"] ?? throw new DgramConfigurationException(g.Path + ":Name", "missing"), group,
                Int(g, "Port") ?? throw new DgramConfigurationException(g.Path + ":Port", "missing"))
            {
                Sources = g.Values("Sources").Select(v => Address(v.Path, v.Value)).ToArray(),
                Ingress = Bool(g, "Ingress") ?? true,
                Emit = Bool(g, "Emit") ?? true,
                Ttl = Int(g, "Ttl") ?? 1,
            });
            g.RejectUnknownKeys();
        }
        var peers = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        IConfigurationSection peerSection = s.Map("Peers");
        var peerList = new StrictSection(peerSection);
        foreach (IConfigurationSection peer in peerSection.GetChildren())
        {
            peers[peer.Key] = peerList.Values(peer.Key).Select(c => c.Value ?? "").ToArray();
        }
        var defaults = new BridgeSettings { Site = "", Interface = "" };
        var settings = new BridgeSettings
        {
            Site = s["Site"] ?? throw new DgramConfigurationException(s.Path + ":Site", "missing"),
            Interface = s["Interface"] ?? throw new DgramConfigurationException(s.Path + ":Interface", "missing"),
            EmitterAddresses = s.Values("EmitterAddresses").Select(v => Address(v.Path, v.Value)).ToArray(),
            Peers = peers,
            Groups = groups,
            MaxBatchDatagrams = Int(s, "MaxBatchDatagrams") ?? defaults.MaxBatchDatagrams,
            MaxBatchBytes = Int(s, "MaxBatchBytes") ?? defaults.MaxBatchBytes,
            MaxInFlightEnvelopes = Int(s, "MaxInFlightEnvelopes") ?? defaults.MaxInFlightEnvelopes,
            MaxInFlightBytes = Int(s, "MaxInFlightBytes") ?? defaults.MaxInFlightBytes,
            ReceiveBufferSize = Int(s, "ReceiveBufferSize") ?? defaults.ReceiveBufferSize,
            AckTimeout = Time(s, "AckTimeout") ?? defaults.AckTimeout,
            StatsInterval = Time(s, "StatsInterval") ?? defaults.StatsInterval,
        };
        s.RejectUnknownKeys();
        try
        {
            settings.Validate();
        }
        catch (ArgumentException e)
        {
            // Validate names settings as "Groups[3].Port" or "Peers[b]": the configuration keys are "Groups:3:Port", "Peers:b".
            string key = (e.ParamName ?? "").Replace("]", "", StringComparison.Ordinal).Replace('[', ':').Replace('.', ':');
            string problem = e.Message[(e.Message.IndexOf(": ", StringComparison.Ordinal) + 2)..];
            int paren = problem.LastIndexOf(" (Parameter", StringComparison.Ordinal);
            throw new DgramConfigurationException(key.Length == 0 ? s.Path : s.Path + ":" + key, paren < 0 ? problem : problem[..paren]);
        }
        return settings;
    }

    private static IPAddress? Address(StrictSection s, string key) => s[key] is { } text ? Address(s.Path + ":" + key, text) : null;

    private static IPAddress Address(string path, string? text) =>
        text is not null && IPAddress.TryParse(text, out IPAddress? a) && a.ToString().Length > 0 && !text.Contains('%') && (text.Contains(':') || text.Count(c => c == '.') == 3)
            ? a
            : throw new DgramConfigurationException(path, $"'{text}' is not an IP address");

    private static int? Int(StrictSection s, string key) => s[key] switch
    {
        null => null,
        var t when int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) => v,
        var t => throw new DgramConfigurationException(s.Path + ":" + key, $"'{t}' is not an integer"),
    };

    private static bool? Bool(StrictSection s, string key) => s[key] switch
    {
        null => null,
        var t when bool.TryParse(t, out bool v) => v,
        var t => throw new DgramConfigurationException(s.Path + ":" + key, $"'{t}' is not true or false"),
    };

    private static TimeSpan? Time(StrictSection s, string key) => s[key] switch
    {
        null => null,
        var t when TimeSpan.TryParse(t, CultureInfo.InvariantCulture, out TimeSpan v) => v,
        var t => throw new DgramConfigurationException(s.Path + ":" + key, $"'{t}' is not a duration (hh:mm:ss.fff)"),
    };
}
