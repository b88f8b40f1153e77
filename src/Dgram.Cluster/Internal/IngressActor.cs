using System.Net;
using Akka.Actor;
using Akka.Cluster.Tools.Client;
using Akka.Event;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;

namespace Dgram.Cluster.Internal;

/// <summary>
/// A group's ingress on its site: a socket joined to the group on the site's interface (source-specific when the
/// group lists sources, else blocking the site's own bridge nodes), whose datagrams the <see cref="IngressBatcher"/>
/// turns into envelopes; this actor sends each envelope to every peer site through that site's
/// <see cref="ClusterClient"/>, within a window of unacknowledged envelopes per peer.
/// </summary>
internal sealed class IngressActor : ReceiveActor, IWithTimers
{
    private readonly BridgeSettings _settings;
    private readonly BridgeGroup _group;
    private readonly long _origin = Random.Shared.NextInt64(1, long.MaxValue);
    private readonly PeerWindow[] _peers;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HashSet<string> _unknownSites = [];
    private IngressBatcher? _batcher;
    private long _sent, _windowDrops, _logged = -1;

    public IngressActor(BridgeSettings settings, BridgeGroup group, IReadOnlyDictionary<string, IActorRef> clients)
    {
        _settings = settings;
        _group = group;
        _peers = clients.Select(c => new PeerWindow(c.Key, c.Value)).ToArray();

        Receive<SocketClient>(OnStarted);
        Receive<Status.Success>(_ => { });
        Receive<Status.Failure>(f => throw new BridgeException($"ingress {_group.Name}: the socket did not start", f.Cause));
        Receive<BridgeBatch>(OnBatch, _ => _batcher is not null);
        Receive<BridgeAck>(OnAck);
        // A socket that gave up (its retries spent) stops: the ingress fails with it, and its backoff supervisor
        // starts a new one, rather than the group going quiet until the singleton moves.
        Receive<Terminated>(t => throw new BridgeException($"ingress {_group.Name}: its socket stopped ({t.ActorRef.Path.Name})"));
        Receive<StatsTick>(_ => LogStats());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(BridgeSettings settings, BridgeGroup group, IReadOnlyDictionary<string, IActorRef> clients) =>
        Akka.Actor.Props.Create(() => new IngressActor(settings, group, clients));

    protected override void PreStart()
    {
        bool ssm = _group.Sources.Count > 0;
        var socket = new SocketSettings
        {
            Name = "socket",
            Family = _group.Family,
            LocalEndPoint = new IPEndPoint(_group.Family == System.Net.Sockets.AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, _group.Port),
            // Other sockets on the node may bind the group's port too: each gets its own copy of the segment's datagrams.
            Reuse = AddressReuse.ReuseAddress,
            MaxDatagramSize = 65_535,
            ReceiveBufferSize = _settings.ReceiveBufferSize,
            BatchSize = Math.Min(64, _settings.MaxBatchDatagrams),
            Groups =
            [
                new GroupSettings(_group.Group, _settings.Interface,
                    Sources: ssm ? _group.Sources : null,
                    BlockedSources: ssm ? null : _settings.EmitterAddresses.Where(a => a.AddressFamily == _group.Family).ToArray()),
            ],
        };
        SocketClient.StartAsync(Context, socket).PipeTo(Self);
        if (_settings.StatsInterval > TimeSpan.Zero) Timers.StartPeriodicTimer("stats", StatsTick.Instance, _settings.StatsInterval);
    }

    protected override void PostStop() => LogStats();

    private void OnStarted(SocketClient socket)
    {
        Context.Watch(socket.Socket);
        _batcher = new IngressBatcher(_settings, _group, _origin, Self);
        socket.AddHandlerAsync(_batcher).PipeTo(Self, success: () => new Status.Success(null));
        _log.Info("bridge: ingress started group={0} site={1} origin={2:x16} peers={3}", _group.Name, _settings.Site, _origin, string.Join(",", _peers.Select(p => p.Site)));
    }

    private void OnBatch(BridgeBatch batch)
    {
        _batcher!.Taken(batch.Body.Length);
        BridgeMetrics.Ingress.Add(batch.Count, new("group", _group.Name), new("site", _settings.Site));
        // Local affinity: the receptionist hands every envelope to the proxy on its own node, one path, so envelopes
        // arrive in order (any proxy would do, but two paths reorder, and the re-emitter counts reordering as loss).
        foreach (PeerWindow peer in _peers)
        {
            switch (peer.Offer(batch, _settings))
            {
                case Offer.Sent:
                    peer.Client.Tell(new ClusterClient.Send(BridgeSite.ProxyPath, batch.For(peer.Confirmed), localAffinity: true), Self);
                    _sent += batch.Count;
                    break;
                case Offer.Full:
                    _windowDrops += batch.Count;
                    BridgeMetrics.Drops.Add(batch.Count, new("group", _group.Name), new("site", _settings.Site), new("reason", "window"));
                    break;
            }
        }
    }

    private void OnAck(BridgeAck ack)
    {
        if (ack.Origin != _origin) return; // for a predecessor of this ingress
        PeerWindow? peer = Array.Find(_peers, p => p.Site == ack.Site);
        if (peer is not null)
        {
            peer.Acknowledge(ack.Sequence);
        }
        else if (_unknownSites.Count < 16 && _unknownSites.Add(ack.Site))
        {
            // The peer calls itself by another name than Peers does here: nothing it confirms would ever count.
            _log.Warning("bridge: ingress {0} got an acknowledgement from a site named '{1}', which is not among Peers ({2}): check the peer's Site setting",
                _group.Name, ack.Site, string.Join(", ", _peers.Select(p => p.Site)));
        }
    }

    private void LogStats()
    {
        long received = _batcher?.Received ?? 0;
        long writtenOff = _peers.Sum(p => p.WrittenOff);
        long changed = received + _sent + _windowDrops + writtenOff + (_batcher?.Dropped ?? 0);
        if (changed == _logged) return;
        _logged = changed;
        _log.Info(FormattableString.Invariant($"bridge: ingress group={_group.Name} site={_settings.Site} origin={_origin:x16} received={received} sent={_sent} drops_queue={_batcher?.Dropped ?? 0} drops_window={_windowDrops} written_off={writtenOff} filtered={_batcher?.Filtered ?? 0}"));
    }

    private enum Offer { Sent, Full }

    /// <summary>
    /// Envelopes sent to one peer site and not yet acknowledged (their last sequence numbers, oldest first). Full, it
    /// refuses, until an acknowledgement makes room, or <c>AckTimeout</c> passes without one: then the window is
    /// written off (what the peer did not confirm is counted) and one envelope goes as a probe; more follow only once
    /// the peer acknowledges again. So a cut link costs one window of memory, then one envelope per <c>AckTimeout</c>,
    /// however long it lasts, and the stream resumes by itself one round trip after the link does.
    /// </summary>
    private sealed class PeerWindow(string site, IActorRef client)
    {
        private readonly Queue<(long Last, int Count, int Bytes)> _unacked = new();
        private long _bytes;
        private long _progress = Environment.TickCount64;
        private bool _probing;

        public string Site { get; } = site;
        public IActorRef Client { get; } = client;
        public long WrittenOff { get; private set; }

        /// <summary>The last sequence number the peer acknowledged (-1: none yet).</summary>
        public long Confirmed { get; private set; } = -1;

        public Offer Offer(BridgeBatch batch, BridgeSettings settings)
        {
            if (_unacked.Count >= (_probing ? 1 : settings.MaxInFlightEnvelopes) || _bytes + batch.Body.Length > settings.MaxInFlightBytes)
            {
                if (Environment.TickCount64 - _progress < settings.AckTimeout.TotalMilliseconds) return Internal.IngressActor.Offer.Full;
                long writtenOff = 0;
                foreach (var (_, count, _) in _unacked) writtenOff += count;
                WrittenOff += writtenOff;
                BridgeMetrics.Drops.Add(writtenOff, new("group", batch.Group), new("site", settings.Site), new("reason", "written_off"));
                _unacked.Clear();
                _bytes = 0;
                _probing = true;
            }
            if (_unacked.Count == 0) _progress = Environment.TickCount64;
            _unacked.Enqueue((batch.LastSequence, batch.Count, batch.Body.Length));
            _bytes += batch.Body.Length;
            return Internal.IngressActor.Offer.Sent;
        }

        public void Acknowledge(long sequence)
        {
            Confirmed = Math.Max(Confirmed, sequence);
            while (_unacked.TryPeek(out var head) && head.Last <= sequence)
            {
                _unacked.Dequeue();
                _bytes -= head.Bytes;
            }
            _progress = Environment.TickCount64;
            _probing = false;
        }
    }

    private sealed class StatsTick
    {
        public static readonly StatsTick Instance = new();
    }
}

/// <summary>A bridge actor could not do its work (its socket did not start); its supervisor restarts it.</summary>
internal sealed class BridgeException(string message, Exception? inner = null) : Exception(message, inner);
