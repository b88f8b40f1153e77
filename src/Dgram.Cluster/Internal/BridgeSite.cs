using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Tools.Client;
using Akka.Event;
using Akka.Pattern;

namespace Dgram.Cluster.Internal;

/// <summary>
/// The site's bridge, a cluster singleton (one per site): a <see cref="ClusterClient"/> per peer site, and per group an
/// ingress and/or a re-emitter, each under a backoff supervisor (a socket that cannot start is retried, 0.1–10 s,
/// not in a tight loop). The peers' envelopes arrive here through the site's receptionist and the singleton proxy
/// registered with it on every node (<see cref="ProxyPath"/>), and go on to their group's re-emitter.
/// </summary>
internal sealed class BridgeSite : ReceiveActor
{
    public const string ManagerName = "dgram-bridge";
    public const string ProxyName = "dgram-bridge-proxy";

    /// <summary>Where peers send envelopes: the singleton proxy on every node, registered with the receptionist.</summary>
    public const string ProxyPath = "/user/" + ProxyName;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, IActorRef> _emitters = [];
    private const int MaxUnroutedNames = 16;
    private readonly HashSet<string> _unrouted = [];

    public BridgeSite(BridgeSettings settings)
    {
        var clients = new Dictionary<string, IActorRef>();
        foreach (var (site, contacts) in settings.Peers)
        {
            var client = ClusterClientSettings.Create(Context.System)
                .WithInitialContacts(contacts.Select(c => ActorPath.Parse(c.TrimEnd('/') + "/system/receptionist")).ToImmutableHashSet());
            clients[site] = Context.ActorOf(ClusterClient.Props(client), "peer-" + site);
        }
        foreach (BridgeGroup group in settings.Groups)
        {
            if (group.Ingress) Supervised(IngressActor.Props(settings, group, clients), "in-" + group.Name);
            if (group.Emit) _emitters[group.Name] = Supervised(EmitterActor.Props(settings, group), "out-" + group.Name);
        }
        _log.Info("bridge: site {0} up on this node: groups={1} peers={2}", settings.Site, string.Join(",", settings.Groups.Select(g => g.Name)), string.Join(",", settings.Peers.Keys));

        Receive<BridgeBatch>(batch =>
        {
            if (_emitters.TryGetValue(batch.Group, out IActorRef? emitter))
            {
                emitter.Forward(batch);
            }
            else
            {
                // The name is the peer's: no tag of it (a peer could make every envelope a new time series), and a
                // warning for the first few names only.
                BridgeMetrics.Drops.Add(batch.Count, new("group", "(unrouted)"), new("site", settings.Site), new("reason", "unrouted"));
                if (_unrouted.Count < MaxUnroutedNames && _unrouted.Add(batch.Group)) _log.Warning("bridge: site {0} re-emits no group named '{1}' (sent by site {2}): its envelopes are dropped and counted", settings.Site, batch.Group, batch.Site);
            }
        });
    }

    public static Props Props(BridgeSettings settings) => Akka.Actor.Props.Create(() => new BridgeSite(settings));

    private static IActorRef Supervised(Props child, string name) =>
        Context.ActorOf(BackoffSupervisor.Props(Backoff.OnFailure(child, "worker", TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(10), 0.2, maxNrOfRetries: -1)), name);
}
