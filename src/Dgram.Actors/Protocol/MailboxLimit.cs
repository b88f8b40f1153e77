using Dgram.Actors.Sockets;

namespace Dgram.Actors.Protocol;

/// <summary>What happens to a datagram for an actor whose mailbox is full.</summary>
public enum MailboxOverflow
{
    /// <summary>The datagram is not told to this actor; the drop is counted (per subscriber and in <c>dgram.drops.subscriber</c>).</summary>
    DropNewest,
    /// <summary>The subscription ends: the actor is told <see cref="SocketProtocol.SubscriptionOverflowed"/> and gets no more datagrams.</summary>
    Fail,
    /// <summary>
    /// The producer waits until the mailbox has drained to half the capacity. For a socket subscriber the
    /// read loop parks, the kernel queue fills and the kernel's drops are counted (it stops every consumer of
    /// the socket); for <c>PipeTo</c> the observable's <c>OnNext</c> blocks, so a buffered stream applies
    /// its own overflow policy.
    /// </summary>
    Backpressure,
}

/// <summary>
/// How many messages may wait in an actor's mailbox before a datagram is no longer told to it. The bound
/// is the actor's own mailbox depth (every message it holds counts, not only datagrams): a bounded
/// buffer that emptied itself into an unbounded mailbox would bound nothing. Only local actors have a
/// mailbox the library can see; a remote subscriber is refused.
/// </summary>
/// <param name="Capacity">Messages the mailbox may hold (1 to 1,048,576; default 1,024).</param>
/// <param name="Overflow">What a full mailbox does (default <see cref="MailboxOverflow.DropNewest"/>).</param>
public sealed record MailboxLimit(int Capacity = 1024, MailboxOverflow Overflow = MailboxOverflow.DropNewest)
{
    /// <summary>1,024 messages, drop newest.</summary>
    public static MailboxLimit Default { get; } = new();

    /// <summary>Throws <see cref="DatagramSocketException"/> (OutOfRange) for a capacity outside 1 to 1,048,576.</summary>
    public void Validate(string operation)
    {
        if (Capacity is < 1 or > 1 << 20)
        {
            throw new DatagramSocketException(operation, DatagramSocketError.OutOfRange, 0, $"Capacity={Capacity}", "1 to 1048576 messages");
        }
        if (!Enum.IsDefined(Overflow))
        {
            throw new DatagramSocketException(operation, DatagramSocketError.InvalidArgument, 0, $"Overflow={Overflow}", "DropNewest, Fail or Backpressure");
        }
    }
}
