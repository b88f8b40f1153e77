using Akka.Actor;

namespace Dgram.Actors.Actors;

/// <summary>
/// Reads how many user messages wait in a local actor's mailbox (Akka's <c>ICell.NumberOfMessages</c>,
/// which may cost a walk of the queue: callers read it once per batch, not per message). The cell is
/// looked up on each read, so a top-level actor whose cell is swapped at start is still seen.
/// </summary>
/// <remarks>
/// What it cannot see: messages an actor has stashed, and actors on a calling-thread dispatcher (TestKit's
/// probes), whose mailbox is always empty; several producers into one mailbox each read the same depth, so
/// an actor fed by k sockets may hold k times the capacity.
/// </remarks>
internal readonly struct MailboxGauge
{
    private readonly ActorRefWithCell _actor;

    private MailboxGauge(ActorRefWithCell actor) => _actor = actor;

    /// <summary>
    /// A gauge for a local actor; false for a remote or minimal reference (no mailbox to read). A reference
    /// that only stands for an actor (a TestKit probe, a typed wrapper) is resolved by its path through
    /// <paramref name="provider"/>, or through its own provider when it has one.
    /// </summary>
    public static bool TryCreate(IActorRef actor, IActorRefProvider? provider, out MailboxGauge gauge)
    {
        IActorRef target = actor;
        if (target is not ActorRefWithCell)
        {
            provider ??= (actor as IInternalActorRef)?.Provider;
            if (provider is not null && actor.Path.Address.Equals(provider.DefaultAddress)) target = provider.ResolveActorRef(actor.Path);
        }
        // A router's cell passes messages straight to its routees: its own mailbox stays empty and bounds nothing.
        bool seen = target is ActorRefWithCell { Underlying.Props.RouterConfig: null or Akka.Routing.NoRouter };
        gauge = seen ? new MailboxGauge((ActorRefWithCell)target) : default;
        return seen;
    }

    /// <summary>Messages waiting now.</summary>
    public int Depth => _actor.Underlying.NumberOfMessages;
}

/// <summary>
/// Tells a local actor at most as many messages as its mailbox has room for under a
/// <see cref="Protocol.MailboxLimit"/>: the mailbox is read only when the remaining allowance runs out,
/// so a steady consumer costs one read per <c>capacity - depth</c> messages. Single producer.
/// </summary>
internal struct MailboxAllowance(MailboxGauge gauge, int capacity)
{
    private int _left;

    public readonly int Capacity => capacity;

    /// <summary>Messages waiting now.</summary>
    public readonly int Depth => gauge.Depth;

    /// <summary>Takes room for one message, reading the mailbox when the allowance is used up.</summary>
    public bool TryTake()
    {
        if (_left <= 0) _left = capacity - gauge.Depth;
        if (_left <= 0) return false;
        _left--;
        return true;
    }

    /// <summary>True once the mailbox has drained to half the capacity (for a producer that waits).</summary>
    public readonly bool HalfEmpty => gauge.Depth <= capacity / 2;
}
