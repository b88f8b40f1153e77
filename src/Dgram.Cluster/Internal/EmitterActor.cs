using System.Net;
using System.Net.NetworkInformation;
using Akka.Actor;
using Akka.Event;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Cluster.Internal;

/// <summary>
/// A group's re-emitter on its site: takes the peers' envelopes, drops what it saw before, counts gaps
/// (<see cref="OriginTracker"/>), and sends the rest to the group out of the site's interface with the group's TTL and
/// multicast loop off, through its own socket actor (whose bounded queue refuses and counts what it cannot take).
/// Acknowledges to each origin's ingress every <see cref="AckEvery"/> envelopes and on a short timer.
/// </summary>
internal sealed class EmitterActor : ReceiveActor, IWithTimers, IWithUnboundedStash
{
    /// <summary>Envelopes of one origin between acknowledgements, at most (the timer acknowledges the rest).</summary>
    public const int AckEvery = 16;

    private static readonly TimeSpan s_ackInterval = TimeSpan.FromMilliseconds(20);
    private readonly BridgeSettings _settings;
    private readonly BridgeGroup _group;
    private readonly OriginTracker _origins = new();
    private readonly IPEndPoint _destination;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Queue<int> _pending = new();
    private IActorRef _socket = ActorRefs.Nobody;
    private long _emitted, _sendFailures, _lostCounted, _duplicatesCounted, _logged = -1;

    public EmitterActor(BridgeSettings settings, BridgeGroup group)
    {
        _settings = settings;
        _group = group;
        _destination = new IPEndPoint(group.Group, group.Port);

        Receive<SocketClient>(OnStarted);
        Receive<Status.Failure>(f => throw new BridgeException($"re-emitter {_group.Name}: the socket did not start", f.Cause));
        ReceiveAny(_ => Stash.Stash()); // bounded by the peers' windows
    }

    public ITimerScheduler Timers { get; set; } = null!;
    public IStash Stash { get; set; } = null!;

    public static Props Props(BridgeSettings settings, BridgeGroup group) => Akka.Actor.Props.Create(() => new EmitterActor(settings, group));

    protected override void PreStart()
    {
        var socket = new SocketSettings
        {
            Name = "socket",
            Family = _group.Family,
            LocalEndPoint = Source() is { } source ? new IPEndPoint(source, 0) : null,
            MulticastInterface = _settings.Interface,
            MulticastTtl = _group.Ttl,
            MulticastLoop = false, // nothing on this node hears its own re-emission, the ingress included
            SendBatchSize = 64,
        };
        SocketClient.StartAsync(Context, socket).PipeTo(Self);
    }

    protected override void PostStop() => LogStats();

    /// <summary>
    /// This node's address among <c>EmitterAddresses</c> on the site's interface: re-emission leaves from it, so a
    /// remote consumer joined with those addresses as sources receives from whichever node re-emits (the kernel's own
    /// choice could be a secondary, temporary or link-local address). None listed: the kernel chooses.
    /// </summary>
    private IPAddress? Source()
    {
        IPAddress[] listed = _settings.EmitterAddresses.Where(a => a.AddressFamily == _group.Family).ToArray();
        if (listed.Length == 0) return null;
        NetworkInterface? nic = NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(n => n.Name == _settings.Interface);
        IPAddress[] own = nic?.GetIPProperties().UnicastAddresses.Select(u => u.Address).ToArray() ?? [];
        return listed.FirstOrDefault(own.Contains) ?? throw new BridgeException(
            $"re-emitter {_group.Name}: none of EmitterAddresses ({string.Join(", ", listed.Select(a => a.ToString()))}) is an address of " +
            $"{_settings.Interface} on this node ({(nic is null ? "no such interface" : string.Join(", ", own.Select(a => a.ToString())))}): " +
            "list every bridge node's address, or remote source-specific consumers miss what this node re-emits");
    }

    private void OnStarted(SocketClient socket)
    {
        _socket = socket.Socket;
        Context.Watch(_socket);
        _log.Info("bridge: emitter started group={0} site={1} ttl={2}", _group.Name, _settings.Site, _group.Ttl);
        Become(Emitting);
        Stash.UnstashAll();
        Timers.StartPeriodicTimer("ack", AckTick.Instance, s_ackInterval);
        if (_settings.StatsInterval > TimeSpan.Zero) Timers.StartPeriodicTimer("stats", StatsTick.Instance, _settings.StatsInterval);
    }

    private void Emitting()
    {
        Receive<BridgeBatch>(OnBatch);
        // The socket answers each SendMany in order: what it did not send (stopped at a refusal) is a send failure.
        Receive<SentMany>(m =>
        {
            int asked = _pending.Dequeue();
            _emitted += m.Result.Sent;
            BridgeMetrics.Emitted.Add(m.Result.Sent, new("group", _group.Name), new("site", _settings.Site));
            CountSendFailures(asked - m.Result.Sent);
        });
        Receive<CommandFailed>(f => CountSendFailures(_pending.Dequeue()));
        Receive<Terminated>(t => throw new BridgeException($"re-emitter {_group.Name}: its socket stopped ({t.ActorRef.Path.Name})"));
        Receive<AckTick>(_ =>
        {
            foreach (OriginTracker.Entry e in _origins.Unacknowledged().ToList()) Acknowledge(e);
        });
        Receive<StatsTick>(_ => LogStats());
    }

    private void OnBatch(BridgeBatch batch)
    {
        int skip = _origins.Accept(batch, Sender, out OriginTracker.Entry origin);
        CountTracker();
        if (skip < batch.Count)
        {
            var datagrams = new List<(ReadOnlyMemory<byte>, EndPoint)>(batch.Count - skip);
            BridgeBatch.RecordReader records = batch.Records();
            for (int i = 0; records.Next(out _, out _, out ReadOnlyMemory<byte> payload); i++)
            {
                if (i >= skip) datagrams.Add((payload, _destination));
            }
            _socket.Tell(new SendMany(datagrams), Self);
            _pending.Enqueue(datagrams.Count);
        }
        if (++origin.EnvelopesSinceAck >= AckEvery) Acknowledge(origin);
    }

    private void CountSendFailures(int count)
    {
        if (count <= 0) return;
        _sendFailures += count;
        BridgeMetrics.Drops.Add(count, new("group", _group.Name), new("site", _settings.Site), new("reason", "send"));
    }

    private void Acknowledge(OriginTracker.Entry origin)
    {
        origin.Acked = origin.Next - 1;
        origin.EnvelopesSinceAck = 0;
        origin.ReplyTo.Tell(new BridgeAck(_settings.Site, origin.Origin, origin.Acked), Self);
    }

    private void CountTracker()
    {
        if (_origins.Lost != _lostCounted)
        {
            BridgeMetrics.Lost.Add(_origins.Lost - _lostCounted, new("group", _group.Name), new("site", _settings.Site));
            _lostCounted = _origins.Lost;
        }
        if (_origins.Duplicates != _duplicatesCounted)
        {
            BridgeMetrics.Duplicates.Add(_origins.Duplicates - _duplicatesCounted, new("group", _group.Name), new("site", _settings.Site));
            _duplicatesCounted = _origins.Duplicates;
        }
    }

    private void LogStats()
    {
        long changed = _emitted + _origins.Lost + _origins.Duplicates + _sendFailures;
        if (changed == _logged) return;
        _logged = changed;
        _log.Info(FormattableString.Invariant($"bridge: emitter group={_group.Name} site={_settings.Site} emitted={_emitted} lost={_origins.Lost} duplicates={_origins.Duplicates} send_failures={_sendFailures} origins={_origins.Count}"));
    }

    private sealed class AckTick
    {
        public static readonly AckTick Instance = new();
    }

    private sealed class StatsTick
    {
        public static readonly StatsTick Instance = new();
    }
}
