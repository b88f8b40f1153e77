using System.Net;
using Akka.Actor;
using Dgram.Actors.Sockets;

namespace Dgram.Actors.Protocol;

/// <summary>
/// The socket actor's protocol, in the style of Akka.IO's <c>Udp</c>: commands in the imperative,
/// replies and events in the past tense, singletons for messages without fields, and one
/// <see cref="CommandFailed"/> that carries the command and the error. Every command is answered.
/// </summary>
/// <remarks>
/// Every command is applied in mailbox order and its reply carries the actor's sequence number, so
/// callers can rebuild the global order. Setters answer with the value in force before them (the
/// seed's convention); getters with the current value.
/// </remarks>
public static class SocketProtocol
{
    /// <summary>A message the socket actor accepts.</summary>
    public abstract class Command
    {
        private protected Command() { }
    }

    /// <summary>A command that reads or changes an option or membership (recorded in the ledger when it changes state).</summary>
    public abstract class OptionCommand : Command
    {
        private protected OptionCommand() { }
    }

    // ---- options (seed: mcastloop, mcastttl, mcastif, broadcast; and the unicast TTL) ----

    /// <summary>Reads IP(V6)_MULTICAST_LOOP. Answered with <see cref="OptionValue{T}"/> of bool.</summary>
    public sealed class GetMulticastLoop : OptionCommand
    {
        /// <summary>The instance.</summary>
        public static readonly GetMulticastLoop Instance = new();
        private GetMulticastLoop() { }
    }

    /// <summary>Sets IP(V6)_MULTICAST_LOOP. Answered with the previous value.</summary>
    public sealed class SetMulticastLoop(bool enable) : OptionCommand
    {
        /// <summary>The new value.</summary>
        public bool Enable { get; } = enable;
    }

    /// <summary>Reads the multicast TTL / hop limit. Answered with <see cref="OptionValue{T}"/> of int.</summary>
    public sealed class GetMulticastTtl : OptionCommand
    {
        /// <summary>The instance.</summary>
        public static readonly GetMulticastTtl Instance = new();
        private GetMulticastTtl() { }
    }

    /// <summary>Sets the multicast TTL / hop limit. Answered with the previous value.</summary>
    public sealed class SetMulticastTtl(int ttl) : OptionCommand
    {
        /// <summary>The new value.</summary>
        public int Ttl { get; } = ttl;
    }

    /// <summary>Reads the unicast TTL / hop limit (IP_TTL / IPV6_UNICAST_HOPS). Answered with <see cref="OptionValue{T}"/> of int.</summary>
    public sealed class GetUnicastTtl : OptionCommand
    {
        /// <summary>The instance.</summary>
        public static readonly GetUnicastTtl Instance = new();
        private GetUnicastTtl() { }
    }

    /// <summary>Sets the unicast TTL / hop limit (1–255, or -1 for the system default). Answered with the previous value.</summary>
    public sealed class SetUnicastTtl(int ttl) : OptionCommand
    {
        /// <summary>The new value.</summary>
        public int Ttl { get; } = ttl;
    }

    /// <summary>Reads the outgoing multicast interface name. Answered with <see cref="OptionValue{T}"/> of string? .</summary>
    public sealed class GetMulticastInterface : OptionCommand
    {
        /// <summary>The instance.</summary>
        public static readonly GetMulticastInterface Instance = new();
        private GetMulticastInterface() { }
    }

    /// <summary>Sets the outgoing multicast interface by name (null: the default). Answered with the previous name.</summary>
    public sealed class SetMulticastInterface(string? interfaceName) : OptionCommand
    {
        /// <summary>The interface name, or null.</summary>
        public string? InterfaceName { get; } = interfaceName;
    }

    /// <summary>Reads SO_BROADCAST. Answered with <see cref="OptionValue{T}"/> of bool.</summary>
    public sealed class GetBroadcast : OptionCommand
    {
        /// <summary>The instance.</summary>
        public static readonly GetBroadcast Instance = new();
        private GetBroadcast() { }
    }

    /// <summary>Sets SO_BROADCAST (IPv4). Answered with the previous value.</summary>
    public sealed class SetBroadcast(bool enable) : OptionCommand
    {
        /// <summary>The new value.</summary>
        public bool Enable { get; } = enable;
    }

    // ---- memberships (seed: mcastjoin/leave, mcastjoinsrc/leavesrc, mcastblocksrc/unblocksrc) ----

    /// <summary>What a membership command does.</summary>
    public enum MembershipChange
    {
        /// <summary>Any-source join.</summary>
        Join,
        /// <summary>Leave the whole membership.</summary>
        Leave,
        /// <summary>Source-specific join (adds a source).</summary>
        JoinSource,
        /// <summary>Drop one source of a source-specific membership.</summary>
        LeaveSource,
        /// <summary>Exclude a source from an any-source membership.</summary>
        BlockSource,
        /// <summary>Re-admit a blocked source.</summary>
        UnblockSource,
    }

    /// <summary>A membership change. Answered with <see cref="Applied"/>.</summary>
    public sealed class ChangeMembership(MembershipChange change, IPAddress group, IPAddress? source, string? interfaceName) : OptionCommand
    {
        /// <summary>What to do.</summary>
        public MembershipChange Change { get; } = change;
        /// <summary>The group.</summary>
        public IPAddress Group { get; } = group;
        /// <summary>The source, for the source operations.</summary>
        public IPAddress? Source { get; } = source;
        /// <summary>The interface name, or null for the kernel's choice.</summary>
        public string? InterfaceName { get; } = interfaceName;

        /// <inheritdoc />
        public override string ToString() => $"{Change}({Group}{(Source is null ? "" : ", " + Source)}, {InterfaceName ?? "null"})";
    }

    // ---- sending (seed: sendto / sendtosync) ----

    /// <summary>Sends one datagram. Answered with <see cref="Sent"/> (a send error is a result, not a failure).</summary>
    public sealed class Send(ReadOnlyMemory<byte> payload, EndPoint destination) : Command
    {
        /// <summary>The payload; the caller must not change it until answered.</summary>
        public ReadOnlyMemory<byte> Payload { get; } = payload;
        /// <summary>Where to.</summary>
        public EndPoint Destination { get; } = destination;
    }

    /// <summary>
    /// Sends one datagram with its own TTL and/or multicast interface, whatever the socket's settings, as one
    /// mailbox step. To a multicast group the TTL is the multicast TTL (-1–255), set, sent with and restored; to a
    /// unicast or broadcast address it is that datagram's TTL / hop limit (1–255, a control message; the socket's
    /// options are not touched). Answered with <see cref="Sent"/>.
    /// </summary>
    public sealed class SendWithOptions(ReadOnlyMemory<byte> payload, EndPoint destination, int? ttl, string? interfaceName) : Command
    {
        /// <summary>The payload.</summary>
        public ReadOnlyMemory<byte> Payload { get; } = payload;
        /// <summary>Where to.</summary>
        public EndPoint Destination { get; } = destination;
        /// <summary>The TTL / hop limit for this datagram, or null for the socket's.</summary>
        public int? Ttl { get; } = ttl;
        /// <summary>The outgoing interface for this datagram, or null for the socket's.</summary>
        public string? InterfaceName { get; } = interfaceName;
    }

    /// <summary>
    /// Sends several datagrams in one mailbox step with sendmmsg (batches of up to 64), in order.
    /// Answered with <see cref="SentMany"/>; a datagram the kernel refuses stops the rest.
    /// </summary>
    public sealed class SendMany(IReadOnlyList<(ReadOnlyMemory<byte> Payload, EndPoint Destination)> datagrams) : Command
    {
        /// <summary>The datagrams, in send order.</summary>
        public IReadOnlyList<(ReadOnlyMemory<byte> Payload, EndPoint Destination)> Datagrams { get; } = datagrams;
    }

    /// <summary>A <see cref="SendMany"/>'s outcome: how many went, and why the next did not.</summary>
    public sealed class SentMany(BatchSendResult result, long sequence)
    {
        /// <summary>Datagrams sent from the start, status and errno.</summary>
        public BatchSendResult Result { get; } = result;
        /// <summary>The actor's sequence number for this command.</summary>
        public long Sequence { get; } = sequence;
    }

    /// <summary>A send's outcome.</summary>
    public sealed class Sent(SendResult result, long sequence)
    {
        /// <summary>Bytes sent, or the errno / timed out.</summary>
        public SendResult Result { get; } = result;
        /// <summary>The actor's sequence number for this send.</summary>
        public long Sequence { get; } = sequence;
    }

    // ---- receiving (seed: recvfrom / recvfromsync) ----

    /// <summary>
    /// Pull one datagram: the next one that arrives after this command is applied (pulls are served
    /// first come, first served; subscribers still get every datagram). Answered with
    /// <see cref="Received"/> or <see cref="ReceiveTimedOut"/>.
    /// </summary>
    public sealed class Receive(TimeSpan timeout) : Command
    {
        /// <summary>How long to wait.</summary>
        public TimeSpan Timeout { get; } = timeout;
    }

    /// <summary>A pull receive found no datagram in time (the seed's <c>timeout</c> flag).</summary>
    public sealed class ReceiveTimedOut
    {
        /// <summary>The instance.</summary>
        public static readonly ReceiveTimedOut Instance = new();
        private ReceiveTimedOut() { }
    }

    /// <summary>A received datagram, to a subscriber or as a pull's answer. The payload is a copy the receiver owns.</summary>
    public sealed class Received(ReadOnlyMemory<byte> payload, EndPoint? source, DatagramInfo info)
    {
        /// <summary>The payload (owned by the message; shared read-only among the actor subscribers of one datagram).</summary>
        public ReadOnlyMemory<byte> Payload { get; } = payload;
        /// <summary>The sender.</summary>
        public EndPoint? Source { get; } = source;
        /// <summary>Destination, interface, hop limit, truncation.</summary>
        public DatagramInfo Info { get; } = info;
    }

    /// <summary>
    /// Subscribes a local actor to every received datagram (<see cref="Received"/>) and to status events.
    /// Answered with <see cref="Subscribed"/>. Delivery is bounded by the subscriber's own mailbox: while
    /// it holds <see cref="MailboxLimit.Capacity"/> messages or more, the limit's overflow policy applies
    /// (by default the datagram is dropped for this subscriber and counted). Subscribing again changes the limit.
    /// </summary>
    public sealed class Subscribe(IActorRef subscriber, MailboxLimit? limit = null) : Command
    {
        /// <summary>The actor.</summary>
        public IActorRef Subscriber { get; } = subscriber;
        /// <summary>How far the subscriber may fall behind, and what happens then.</summary>
        public MailboxLimit Limit { get; } = limit ?? MailboxLimit.Default;
    }

    /// <summary>
    /// Told to a subscriber whose <see cref="MailboxOverflow.Fail"/> limit was reached: its subscription
    /// has ended (subscribe again to resume).
    /// </summary>
    public sealed class SubscriptionOverflowed(string socket, int capacity)
    {
        /// <summary>The socket's name.</summary>
        public string Socket { get; } = socket;
        /// <summary>The limit that was reached.</summary>
        public int Capacity { get; } = capacity;

        /// <inheritdoc />
        public override string ToString() => $"SubscriptionOverflowed({Socket}, {Capacity})";
    }

    /// <summary>Ends a subscription. Answered with <see cref="Unsubscribed"/>.</summary>
    public sealed class Unsubscribe(IActorRef subscriber) : Command
    {
        /// <summary>The actor.</summary>
        public IActorRef Subscriber { get; } = subscriber;
    }

    /// <summary>A subscription is in place.</summary>
    public sealed class Subscribed
    {
        /// <summary>The instance.</summary>
        public static readonly Subscribed Instance = new();
        private Subscribed() { }
    }

    /// <summary>A subscription ended.</summary>
    public sealed class Unsubscribed
    {
        /// <summary>The instance.</summary>
        public static readonly Unsubscribed Instance = new();
        private Unsubscribed() { }
    }

    /// <summary>Stops reading: the kernel queue fills and the kernel's drops are counted. Answered with <see cref="ReadingSuspended"/> once the read loop has parked.</summary>
    public sealed class SuspendReading : Command
    {
        /// <summary>The instance.</summary>
        public static readonly SuspendReading Instance = new();
        private SuspendReading() { }
    }

    /// <summary>Restarts reading. Answered with <see cref="ReadingResumed"/>.</summary>
    public sealed class ResumeReading : Command
    {
        /// <summary>The instance.</summary>
        public static readonly ResumeReading Instance = new();
        private ResumeReading() { }
    }

    /// <summary>The read loop has parked; nothing is delivered until <see cref="ResumeReading"/>.</summary>
    public sealed class ReadingSuspended
    {
        /// <summary>The instance.</summary>
        public static readonly ReadingSuspended Instance = new();
        private ReadingSuspended() { }
    }

    /// <summary>The read loop runs again.</summary>
    public sealed class ReadingResumed
    {
        /// <summary>The instance.</summary>
        public static readonly ReadingResumed Instance = new();
        private ReadingResumed() { }
    }

    /// <summary>Asks for the socket's state. Answered with <see cref="SocketState"/>.</summary>
    public sealed class GetState : Command
    {
        /// <summary>The instance.</summary>
        public static readonly GetState Instance = new();
        private GetState() { }
    }

    // ---- replies ----

    /// <summary>A getter's current value, or a setter's previous value, with the command's sequence number.</summary>
    public sealed class OptionValue<T>(T value, long sequence)
    {
        /// <summary>The value (previous, for a setter).</summary>
        public T Value { get; } = value;
        /// <summary>The actor's sequence number for this command.</summary>
        public long Sequence { get; } = sequence;
    }

    /// <summary>A membership change took effect (or is pending, for an interface that is absent).</summary>
    public sealed class Applied(long sequence, MembershipStatus status)
    {
        /// <summary>The actor's sequence number for this command.</summary>
        public long Sequence { get; } = sequence;
        /// <summary>Active, or Pending when the interface is absent.</summary>
        public MembershipStatus Status { get; } = status;
    }

    /// <summary>A command failed; nothing changed. Carries the command and the socket error (operation, errno).</summary>
    public sealed class CommandFailed(Command command, DatagramSocketException cause)
    {
        /// <summary>The command.</summary>
        public Command Command { get; } = command;
        /// <summary>Why.</summary>
        public DatagramSocketException Cause { get; } = cause;

        /// <inheritdoc />
        public override string ToString() => $"CommandFailed({Command}: {Cause.Message})";
    }
}
