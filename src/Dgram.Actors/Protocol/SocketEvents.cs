using System.Net;
using Dgram.Actors.Sockets;

namespace Dgram.Actors.Protocol;

/// <summary>Per-datagram facts the kernel reported (what <see cref="DatagramSocketOptions.ReceiveMetadata"/> enabled).</summary>
/// <param name="Length">The datagram's real length (larger than the payload when truncated).</param>
/// <param name="Truncated">The payload was cut to the read buffer.</param>
/// <param name="InterfaceIndex">Arrival interface, 0 when unknown.</param>
/// <param name="Destination">The group or address it was sent to, or null when unknown.</param>
/// <param name="HopLimit">TTL / hop limit, -1 when unknown.</param>
/// <param name="TimestampNanoseconds">Kernel receive time (Unix epoch, ns), 0 when unknown.</param>
/// <param name="Sequence">The read loop's running number of this datagram on the socket (across restarts).</param>
public sealed record DatagramInfo(int Length, bool Truncated, int InterfaceIndex, IPAddress? Destination, int HopLimit, long TimestampNanoseconds, long Sequence);

/// <summary>Whether a recorded membership is in the kernel.</summary>
public enum MembershipStatus
{
    /// <summary>In the kernel tables.</summary>
    Active,
    /// <summary>Wanted, but its interface is absent; rejoined when the interface (re)appears.</summary>
    Pending,
}

/// <summary>A membership as the socket actor wants it and where it stands.</summary>
/// <param name="Membership">Group, interface, filter mode, sources.</param>
/// <param name="Status">Active or pending.</param>
public sealed record MembershipState(Membership Membership, MembershipStatus Status);

/// <summary>Counters of a socket actor, kept across restarts.</summary>
/// <param name="DatagramsReceived">Datagrams read from the kernel.</param>
/// <param name="BytesReceived">Their bytes.</param>
/// <param name="DatagramsSent">Datagrams sent.</param>
/// <param name="BytesSent">Their bytes.</param>
/// <param name="SendFailures">Sends that failed or timed out.</param>
/// <param name="ReceiveErrors">Transient receive errors (e.g. ECONNREFUSED), which restart nothing.</param>
/// <param name="NoConsumerDrops">Datagrams read while nobody consumed (no subscriber, handler or pull).</param>
/// <param name="KernelDrops">Datagrams the kernel dropped on the full receive queue (SO_RXQ_OVFL), summed over incarnations.</param>
/// <param name="Restarts">Socket incarnations created after the first.</param>
/// <param name="MembershipsRestored">Memberships rejoined after a restart or an interface's return.</param>
/// <param name="SubscriberDrops">Datagrams not told to an actor subscriber because its mailbox was full (all subscribers).</param>
/// <param name="CommandsRefused">Commands answered at once with <see cref="Sockets.DatagramSocketError.Overloaded"/> because the socket's queue was full.</param>
public sealed record SocketCounters(long DatagramsReceived, long BytesReceived, long DatagramsSent, long BytesSent, long SendFailures,
    long ReceiveErrors, long NoConsumerDrops, long KernelDrops, long Restarts, long MembershipsRestored, long SubscriberDrops, long CommandsRefused);

/// <summary>An actor subscriber of a socket and how it keeps up.</summary>
/// <param name="Subscriber">The actor.</param>
/// <param name="Limit">Its mailbox bound and overflow policy.</param>
/// <param name="Delivered">Datagrams told to it.</param>
/// <param name="Dropped">Datagrams not told because its mailbox was full.</param>
public sealed record SubscriberState(Akka.Actor.IActorRef Subscriber, MailboxLimit Limit, long Delivered, long Dropped);

/// <summary>Answer to <see cref="SocketProtocol.GetState"/>: read from the kernel where it can tell.</summary>
/// <param name="Name">The socket's name.</param>
/// <param name="LocalEndPoint">Bound address (getsockname).</param>
/// <param name="MulticastLoop">IP(V6)_MULTICAST_LOOP read back.</param>
/// <param name="MulticastTtl">Multicast TTL / hops read back.</param>
/// <param name="UnicastTtl">Unicast TTL / hop limit read back (the system default, 64, when none was set).</param>
/// <param name="MulticastInterface">Outgoing multicast interface (IPv4: as recorded; IPv6: read back).</param>
/// <param name="Broadcast">SO_BROADCAST read back (false on IPv6).</param>
/// <param name="Memberships">Memberships with their status and source filters.</param>
/// <param name="ReadingSuspended">True while reading is suspended.</param>
/// <param name="Counters">Counters.</param>
/// <param name="KernelQueueDrops">The socket's <c>drops</c> column of /proc/net/udp(6), or -1 when not found.</param>
/// <param name="Sequence">The actor's sequence number for this query.</param>
/// <param name="Subscribers">The actor subscribers with their bounds and counts.</param>
public sealed record SocketState(string Name, EndPoint? LocalEndPoint, bool? MulticastLoop, int? MulticastTtl, int? UnicastTtl, string? MulticastInterface,
    bool? Broadcast, IReadOnlyList<MembershipState> Memberships, bool ReadingSuspended, SocketCounters Counters, long KernelQueueDrops, long Sequence,
    IReadOnlyList<SubscriberState> Subscribers)
{
    private bool PrintMembers(System.Text.StringBuilder builder) => RecordText.PrintMembers(this, builder);
}

/// <summary>A status event of a socket actor (to subscribers and the status stream).</summary>
public abstract record SocketStatus(string Socket);

/// <summary>The socket failed and a new incarnation is being created.</summary>
public sealed record SocketRestarting(string Socket, Exception Cause, int Attempt, TimeSpan Backoff) : SocketStatus(Socket);

/// <summary>A new incarnation is bound and its ledger replayed.</summary>
public sealed record SocketRestored(string Socket, int Incarnation) : SocketStatus(Socket);

/// <summary>A membership waits for its interface.</summary>
public sealed record MembershipPending(string Socket, Membership Membership, string Reason) : SocketStatus(Socket);

/// <summary>A membership is back in the kernel.</summary>
public sealed record MembershipRestored(string Socket, Membership Membership) : SocketStatus(Socket);

/// <summary>What happened to an interface a socket's memberships name (from the kernel's rtnetlink events).</summary>
public enum InterfaceChange
{
    /// <summary>Administratively down or without carrier: memberships stay in the kernel, nothing is left or rejoined.</summary>
    Down,
    /// <summary>Up with carrier again: delivery resumes on the memberships the kernel kept.</summary>
    Up,
    /// <summary>Its index no longer exists (deleted, moved to another namespace, or renamed away): memberships on it wait.</summary>
    Gone,
    /// <summary>An interface of that name exists again under a new index and is up: memberships were joined on it.</summary>
    Recreated,
}

/// <summary>An interface named by the socket's memberships or its multicast interface changed.</summary>
/// <param name="Socket">The socket's name.</param>
/// <param name="Interface">The interface's name as the socket knows it.</param>
/// <param name="Index">Its index (the old one for <see cref="InterfaceChange.Gone"/>).</param>
/// <param name="Change">What happened.</param>
/// <param name="Detail">Why, when the kernel says more (for example "renamed to eth9").</param>
public sealed record InterfaceChanged(string Socket, string Interface, int Index, InterfaceChange Change, string? Detail = null) : SocketStatus(Socket);

/// <summary>A transient receive error (counted; nothing restarts).</summary>
public sealed record ReceiveErrorReported(string Socket, int Errno, string ErrorName) : SocketStatus(Socket);

/// <summary>The socket could not be recovered; subscriptions end with this cause and the failure escalates.</summary>
public sealed record SocketFailed(string Socket, Exception Cause) : SocketStatus(Socket);

/// <summary>The socket was stopped normally; subscriptions end.</summary>
public sealed record SocketStopped(string Socket) : SocketStatus(Socket);
