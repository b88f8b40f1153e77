using Akka.Actor;
using Akka.Cluster.Tools.Client;
using Akka.Cluster.Tools.Singleton;
using Akka.Hosting;
using Dgram.Cluster.Internal;
using Microsoft.Extensions.Configuration;

namespace Dgram.Cluster;

/// <summary>Akka.Hosting extensions that run a site's bridge on a cluster node.</summary>
/// <remarks>
/// Every node of the site's cluster calls the same <c>WithDgramBridge</c>: the bridge runs as one cluster singleton
/// per site, and a proxy to it on every node is registered with the node's <see cref="ClusterClientReceptionist"/>,
/// where the peer sites' ingresses send their envelopes. The actor system must use Akka.Cluster (remoting and a
/// cluster of the site's nodes); the peer sites are separate clusters, reached by <see cref="ClusterClient"/>.
/// </remarks>
public static class DgramBridgeHostingExtensions
{
    /// <summary>The bridge with <paramref name="settings"/> (validated here: bad settings throw before the host starts).</summary>
    public static AkkaConfigurationBuilder WithDgramBridge(this AkkaConfigurationBuilder builder, BridgeSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        return builder
            .WithCustomSerializer("dgram-bridge", [typeof(BridgeBatch), typeof(BridgeAck)], system => new BridgeSerializer(system))
            .WithActors((system, _) => Start(system, settings));
    }

    /// <summary>
    /// The bridge read from a configuration section (keys: Site, Interface, EmitterAddresses[], Peers { site: [contacts] },
    /// Groups[] { Name, Group, Port, Sources[], Ingress, Emit, Ttl }, MaxBatchDatagrams, MaxBatchBytes,
    /// MaxInFlightEnvelopes, MaxInFlightBytes, ReceiveBufferSize, AckTimeout, StatsInterval). An unknown key, a missing or malformed value throws
    /// <see cref="Dgram.Actors.Hosting.DgramConfigurationException"/> naming its path.
    /// </summary>
    public static AkkaConfigurationBuilder WithDgramBridge(this AkkaConfigurationBuilder builder, IConfiguration section) =>
        builder.WithDgramBridge(BridgeConfiguration.Read(section));

    private static void Start(ActorSystem system, BridgeSettings settings)
    {
        if (system is not ExtendedActorSystem extended || !extended.Provider.GetType().FullName!.StartsWith("Akka.Cluster.", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("WithDgramBridge: the actor system must use Akka.Cluster (akka.actor.provider = cluster, with remoting and seed nodes)");
        }
        system.ActorOf(ClusterSingletonManager.Props(BridgeSite.Props(settings), PoisonPill.Instance, ClusterSingletonManagerSettings.Create(system)), BridgeSite.ManagerName);
        IActorRef proxy = system.ActorOf(ClusterSingletonProxy.Props("/user/" + BridgeSite.ManagerName, ClusterSingletonProxySettings.Create(system)), BridgeSite.ProxyName);
        ClusterClientReceptionist.Get(system).RegisterService(proxy);
    }
}

/// <summary>The bridge's metrics.</summary>
/// <remarks>
/// Counters on the meter <see cref="MeterName"/>, tagged <c>group</c> and <c>site</c>: <c>dgram.bridge.datagrams.in</c>
/// (taken by a site's ingress), <c>dgram.bridge.datagrams.out</c> (re-emitted), <c>dgram.bridge.lost</c> (gaps in an
/// origin's sequence seen by a re-emitter), <c>dgram.bridge.duplicates</c>, and <c>dgram.bridge.drops</c> with
/// <c>reason</c> = queue (the ingress actor was behind), window (a peer's window was full), send (the re-emitter's
/// socket refused) or unrouted (a peer sent a group this site does not re-emit).
/// </remarks>
public static class DgramBridgeMetrics
{
    /// <summary>The meter's name, for <c>AddMeter</c>.</summary>
    public const string MeterName = Internal.BridgeMetrics.MeterName;
}
