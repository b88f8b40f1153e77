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
        Receive<BridgeBatch>(OnBatch);
        Receive<BridgeAck>(OnAck);
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
            // Consumers on the node may bind the group's port too: each socket gets its own copy.
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
        IActorRef self = Self;
        SocketClient.StartAsync(Context, socket).PipeTo(self);
        if (_settings.StatsInterval > TimeSpan.Zero) Timers.StartPeriodicTimer("stats", StatsTick.Instance, _settings.StatsInterval);
    }

    protected override void PostStop() => LogStats();

    private void OnStarted(SocketClient socket)
    {
        _batcher = new IngressBatcher(_settings, _group, _origin, Self);
        socket.AddHandlerAsync(_batcher).PipeTo(Self, success: () => new Status.Success(null));
        _log.Info("bridge: ingress started group={0} site={1} origin={2:x16} peers={3}", _group.Name, _settings.Site, _origin, string.Join(",", _peers.Select(p => p.Site)));
    }

    private void OnBatch(BridgeBatch batch)
    {
        _batcher!.Taken();
        BridgeMetrics.Ingress.Add(batch.Count, new("group", _group.Name), new("site", _settings.Site));
        // Local affinity: the receptionist hands every envelope to the proxy on its own node, one path, so envelopes
        // arrive in order (any proxy would do, but two paths reorder, and the re-emitter counts reordering as loss).
        var send = new ClusterClient.Send(BridgeSite.ProxyPath, batch, localAffinity: true);
        foreach (PeerWindow peer in _peers)
        {
            switch (peer.Offer(batch, _settings))
            {
                case Offer.Sent:
                    peer.Client.Tell(send, Self);
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
        foreach (PeerWindow peer in _peers)
        {
            if (peer.Site == ack.Site) peer.Acknowledge(ack.Sequence);
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
        private readonly Queue<(long Last, int Count)> _unacked = new();
        private long _progress = Environment.TickCount64;
        private bool _probing;

        public string Site { get; } = site;
        public IActorRef Client { get; } = client;
        public long WrittenOff { get; private set; }

        public Offer Offer(BridgeBatch batch, BridgeSettings settings)
        {
            if (_unacked.Count >= (_probing ? 1 : settings.MaxInFlightEnvelopes))
            {
                if (Environment.TickCount64 - _progress < settings.AckTimeout.TotalMilliseconds) return Internal.IngressActor.Offer.Full;
                foreach (var (_, count) in _unacked) WrittenOff += count;
                _unacked.Clear();
                _probing = true;
            }
            if (_unacked.Count == 0) _progress = Environment.TickCount64;
            _unacked.Enqueue((batch.LastSequence, batch.Count));
            return Internal.IngressActor.Offer.Sent;
        }

        public void Acknowledge(long sequence)
        {
            while (_unacked.TryPeek(out var head) && head.Last <= sequence) _unacked.Dequeue();
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
