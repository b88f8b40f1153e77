namespace Dgram.Rx;

/// <summary>What a subscriber's buffer does when it is full.</summary>
public enum OverflowPolicy
{
    /// <summary>Drop the oldest queued datagram to make room (counted).</summary>
    DropOldest,
    /// <summary>Drop the arriving datagram (counted).</summary>
    DropNewest,
    /// <summary>End the subscription with <see cref="SubscriberOverflowException"/>.</summary>
    Fail,
    /// <summary>
    /// Stop the socket's read loop while the buffer is full, until it drains to half: the read loop parks
    /// after its current batch (the buffer has room for it), the kernel queue fills, and the kernel's
    /// drops are counted. A per-socket policy: it stops every subscriber, so it is refused unless every
    /// current subscriber of the socket asked for it.
    /// </summary>
    PauseSocket,
}

/// <summary>How one subscription receives datagrams.</summary>
public sealed record SubscriberOptions
{
    /// <summary>Defaults: a 1,024-datagram buffer, drop oldest.</summary>
    public static SubscriberOptions Default { get; } = new();

    /// <summary>
    /// Call <c>OnNext</c> directly on the socket's read-loop thread: no buffer, no thread hop. A slow
    /// inline observer slows the socket and every other subscriber; use for the hottest pipelines.
    /// </summary>
    public bool Inline { get; init; }

    /// <summary>Datagrams the subscriber's buffer holds (buffered mode).</summary>
    public int Capacity { get; init; } = 1024;

    /// <summary>What a full buffer does.</summary>
    public OverflowPolicy Overflow { get; init; } = OverflowPolicy.DropOldest;

    /// <summary>Counters for this subscription (delivered, dropped), filled by the library; null for none.</summary>
    public SubscriberStatistics? Statistics { get; init; }
}

/// <summary>Per-subscription counters.</summary>
public sealed class SubscriberStatistics
{
    internal long _delivered, _dropped;

    /// <summary>Datagrams handed to OnNext.</summary>
    public long Delivered => Volatile.Read(ref _delivered);
    /// <summary>Datagrams dropped by the overflow policy.</summary>
    public long Dropped => Volatile.Read(ref _dropped);
}

/// <summary>A subscriber's buffer overflowed under <see cref="OverflowPolicy.Fail"/>.</summary>
public sealed class SubscriberOverflowException(string socket, int capacity)
    : Exception($"subscriber of socket {socket} fell {capacity} datagrams behind")
{
    /// <summary>The socket's name.</summary>
    public string Socket { get; } = socket;
}
