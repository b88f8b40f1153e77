using Akka.Actor;

namespace Dgram.Cluster.Internal;

/// <summary>
/// A re-emitter's view of each origin (a peer site's ingress incarnation): the next sequence it expects, so each
/// datagram goes out once and in order; a gap is counted as loss, a datagram seen before as a duplicate. Holds at
/// most <paramref name="capacity"/> origins (every failover makes a new one): the longest-silent is forgotten.
/// </summary>
internal sealed class OriginTracker(int capacity = 64)
{
    private readonly Dictionary<(string Site, long Origin), Entry> _origins = [];
    private long _clock;

    public long Lost { get; private set; }
    public long Duplicates { get; private set; }
    public int Count => _origins.Count;

    /// <summary>
    /// Takes an envelope: returns how many of its leading datagrams were seen before (skip them); what is missing
    /// between the last one seen and this one is added to <see cref="Lost"/>. An origin seen for the first time starts
    /// after what this site had confirmed to it (<see cref="BridgeBatch.Confirmed"/>): a re-emitter that took over
    /// counts what was sent and never confirmed (lost in the move, or emitted by its predecessor whose
    /// acknowledgement did not get back) as lost, an upper bound.
    /// </summary>
    public int Accept(BridgeBatch batch, IActorRef replyTo, out Entry entry)
    {
        var key = (batch.Site, batch.Origin);
        if (!_origins.TryGetValue(key, out entry!))
        {
            if (_origins.Count >= capacity) Forget();
            entry = new Entry(batch.Site, batch.Origin, Math.Min(batch.Confirmed + 1, batch.FirstSequence));
            _origins[key] = entry;
        }
        entry.LastSeen = ++_clock;
        entry.ReplyTo = replyTo;
        if (batch.LastSequence < entry.Next)
        {
            Duplicates += batch.Count;
            return batch.Count;
        }
        int skip = (int)Math.Max(0, entry.Next - batch.FirstSequence);
        Duplicates += skip;
        Lost += Math.Max(0, batch.FirstSequence - entry.Next);
        entry.Next = batch.LastSequence + 1;
        return skip;
    }

    /// <summary>Origins with datagrams handled but not acknowledged.</summary>
    public IEnumerable<Entry> Unacknowledged() => _origins.Values.Where(e => e.Acked < e.Next - 1);

    private void Forget()
    {
        var oldest = _origins.MinBy(kv => kv.Value.LastSeen).Key;
        _origins.Remove(oldest);
    }

    internal sealed class Entry(string site, long origin, long next)
    {
        public string Site { get; } = site;
        public long Origin { get; } = origin;
        public long Next { get; set; } = next;
        public long Acked { get; set; } = next - 1;
        public int EnvelopesSinceAck { get; set; }
        public long LastSeen { get; set; }
        public IActorRef ReplyTo { get; set; } = ActorRefs.Nobody;
    }
}
