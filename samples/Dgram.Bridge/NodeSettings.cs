using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Dgram.Bridge;

/// <summary>
/// The node's place in its site's cluster (section <c>Node</c>: Hostname, Port, SeedNodes[]), and the cluster settings
/// a bridge site runs with: failure detection for a LAN (a hard-killed node is unreachable after about 3 s), the split
/// brain resolver's keep-majority deciding 1.5 s after the membership settles (a site of 3 nodes survives the loss of
/// any one; see docs/cluster-bridge.md for 2-node sites), remoting without write batching (latency at low rates),
/// quick singleton hand-over.
/// </summary>
internal sealed record NodeSettings(string Hostname, int Port, IReadOnlyList<string> SeedNodes)
{
    public static NodeSettings Read(IConfiguration configuration)
    {
        IConfigurationSection node = configuration.GetSection("Node");
        foreach (IConfigurationSection key in node.GetChildren())
        {
            if (key.Key is not ("Hostname" or "Port" or "SeedNodes")) throw new ArgumentException($"Node:{key.Key}: unknown key; the keys here are Hostname, Port, SeedNodes");
        }
        string host = node["Hostname"] ?? throw new ArgumentException("Node:Hostname: missing");
        if (!int.TryParse(node["Port"], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
        {
            throw new ArgumentException($"Node:Port: '{node["Port"]}' is not a port");
        }
        string[] seeds = node.GetSection("SeedNodes").GetChildren().Select(c => c.Value ?? "").ToArray();
        if (seeds.Length == 0) throw new ArgumentException("Node:SeedNodes: at least one seed node (akka.tcp://dgram@host:port) is required");
        return new NodeSettings(host, port, seeds);
    }

    public string Hocon() => $$"""
        akka {
          loglevel = INFO
          actor.provider = cluster
          remote.dot-netty.tcp {
            hostname = "{{Hostname}}"
            port = {{Port}}
            batching.enabled = false
          }
          cluster {
            seed-nodes = [{{string.Join(", ", SeedNodes.Select(s => $"\"{s}\""))}}]
            failure-detector {
              heartbeat-interval = 500ms
              acceptable-heartbeat-pause = 1.5s
            }
            downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
            split-brain-resolver {
              active-strategy = keep-majority
              stable-after = 1.5s
            }
            singleton.hand-over-retry-interval = 200ms
            singleton-proxy.singleton-identification-interval = 200ms
            # Akka.Cluster.Tools 1.5.73 starts this warning's timer with no initial delay: it says "failed to find
            # the singleton after 30 seconds" at every start and every hand-over, at once. Off: a false warning.
            singleton-proxy.log-singleton-identification-failure = off
            run-coordinated-shutdown-when-down = on
          }
          cluster.client {
            heartbeat-interval = 1s
            acceptable-heartbeat-pause = 3s
            reconnect-timeout = off
          }
          cluster.client.receptionist {
            heartbeat-interval = 1s
            acceptable-heartbeat-pause = 3s
          }
        }
        """;
}
