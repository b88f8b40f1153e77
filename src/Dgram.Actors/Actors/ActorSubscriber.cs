using Akka.Actor;
using Dgram.Actors.Protocol;

namespace Dgram.Actors.Actors;

/// <summary>What became of a datagram offered to an actor subscriber.</summary>
internal enum Offer
{
    Told,
    Dropped,
    /// <summary>Dropped, and the subscription ends (<see cref="MailboxOverflow.Fail"/>).</summary>
    Overflowed,
    /// <summary>Not told: the producer should wait for room (<see cref="MailboxOverflow.Backpressure"/>).</summary>
    Full,
}

/// <summary>
/// One subscribed actor and its bound. The read loop is the only caller of <see cref="TryOffer"/>; the
/// counters are read by anyone.
/// </summary>
internal sealed class ActorSubscriber
{
    private MailboxAllowance _room;
    internal long _delivered, _dropped;
    private volatile bool _ended;

    private ActorSubscriber(IActorRef actor, MailboxLimit limit, MailboxGauge gauge)
    {
        Actor = actor;
        Limit = limit;
        _room = new MailboxAllowance(gauge, limit.Capacity);
    }

    /// <summary>A subscriber for a local actor; null for one whose mailbox cannot be seen (remote).</summary>
    public static ActorSubscriber? TryCreate(IActorRef actor, MailboxLimit limit, IActorRefProvider provider) =>
        MailboxGauge.TryCreate(actor, provider, out MailboxGauge gauge) ? new ActorSubscriber(actor, limit, gauge) : null;

    public IActorRef Actor { get; }

    public MailboxLimit Limit { get; }

    /// <summary>Set when the subscription is removed; a producer waiting for room gives up.</summary>
    public bool Ended
    {
        get => _ended;
        set => _ended = value;
    }

    public bool HalfEmpty => _room.HalfEmpty;

    /// <summary>Tells <paramref name="message"/> if the mailbox has room; otherwise applies the overflow policy.</summary>
    public Offer TryOffer(object message)
    {
        if (_room.TryTake())
        {
            Tell(message);
            return Offer.Told;
        }
        switch (Limit.Overflow)
        {
            case MailboxOverflow.Backpressure:
                return Offer.Full;
            case MailboxOverflow.Fail:
                Interlocked.Increment(ref _dropped);
                return Offer.Overflowed;
            default:
                Interlocked.Increment(ref _dropped);
                return Offer.Dropped;
        }
    }

    /// <summary>Counts a datagram the producer gave up on for this subscriber; returns 1.</summary>
    public int CountDropped()
    {
        Interlocked.Increment(ref _dropped);
        return 1;
    }

    /// <summary>Tells regardless of the bound (a producer that can no longer wait: stopping or suspending).</summary>
    public void Tell(object message)
    {
        Actor.Tell(message, ActorRefs.NoSender);
        Interlocked.Increment(ref _delivered);
    }

    // Datagrams a full mailbox kept from the engine under Backpressure, in order: only the engine thread that
    // reads the socket touches them, and reading pauses while any is held, so they are at most one read batch.
    private Queue<object>? _held;

    public bool HasHeld => _held is { Count: > 0 };

    public void Hold(object message) => (_held ??= new Queue<object>()).Enqueue(message);

    /// <summary>Tells held datagrams while the mailbox has room; true once none is held.</summary>
    public bool OfferHeld()
    {
        while (_held is { Count: > 0 } held)
        {
            if (!_room.TryTake()) return false;
            Tell(held.Dequeue());
        }
        return true;
    }

    /// <summary>Gives up the held datagrams (the subscription or the socket ended); returns how many were dropped.</summary>
    public int DropHeld()
    {
        int n = _held?.Count ?? 0;
        _held?.Clear();
        if (n > 0) Interlocked.Add(ref _dropped, n);
        return n;
    }

    public SubscriberState State() => new(Actor, Limit, Volatile.Read(ref _delivered), Volatile.Read(ref _dropped));
}
