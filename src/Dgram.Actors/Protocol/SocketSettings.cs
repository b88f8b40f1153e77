using System.Net;
using System.Net.Sockets;
using Dgram.Actors.Sockets;

namespace Dgram.Actors.Protocol;

/// <summary>What to do with a membership whose interface does not exist.</summary>
public enum AbsentInterfacePolicy
{
    /// <summary>Record it as pending (with a warning) and join when the interface appears.</summary>
    Pending,
    /// <summary>Fail: at start, the socket actor does not start.</summary>
    Fail,
}

/// <summary>What the first start does when bind fails with an error that can clear by itself.</summary>
public enum BindFailurePolicy
{
    /// <summary>The start fails at once with the error (as Kestrel does).</summary>
    Fail,
    /// <summary>
    /// EADDRNOTAVAIL (the address is not on the host yet, e.g. while DHCP brings it) and EADDRINUSE (a previous
    /// instance is letting the port go) are retried with the restart backoff, up to <see cref="SocketSettings.MaxRetries"/>.
    /// </summary>
    Retry,
}

/// <summary>A membership to establish when the socket starts.</summary>
/// <param name="Group">The group.</param>
/// <param name="InterfaceName">The interface name (null: kernel's choice).</param>
/// <param name="Sources">Source-specific sources (include mode); empty for any-source.</param>
/// <param name="BlockedSources">Sources to block on an any-source membership.</param>
public sealed record GroupSettings(IPAddress Group, string? InterfaceName, IReadOnlyList<IPAddress>? Sources = null, IReadOnlyList<IPAddress>? BlockedSources = null)
{
    private bool PrintMembers(System.Text.StringBuilder builder) => RecordText.PrintMembers(this, builder);
}

/// <summary>How a socket actor is created and recovered.</summary>
public sealed record SocketSettings
{
    private bool PrintMembers(System.Text.StringBuilder builder) => RecordText.PrintMembers(this, builder);

    /// <summary>The socket's name (actor name, metric tag, thread name).</summary>
    public required string Name { get; init; }
    /// <summary>InterNetwork, InterNetworkV6 or Unix.</summary>
    public required AddressFamily Family { get; init; }
    /// <summary>Where to bind (the group address or the wildcard, for receivers); null: unbound until the first send.</summary>
    public EndPoint? LocalEndPoint { get; init; }
    /// <summary>A peer to connect to (fixes the default destination and accepts datagrams only from it), or null.</summary>
    public EndPoint? RemoteEndPoint { get; init; }
    /// <summary>
    /// Address reuse. The default, <see cref="AddressReuse.None"/>, binds the port exclusively; <see cref="AddressReuse.ReuseAddress"/>
    /// sets SO_REUSEADDR alone, so sockets that all set it share the port; <see cref="AddressReuse.ReusePort"/> adds SO_REUSEPORT.
    /// </summary>
    public AddressReuse Reuse { get; init; }
    /// <summary>Socket creation options (dual mode, metadata, interface filter, logger).</summary>
    public DatagramSocketOptions SocketOptions { get; init; } = new() { ReceiveMetadata = ReceiveMetadata.PacketInfo | ReceiveMetadata.HopLimit | ReceiveMetadata.QueueOverflow };
    /// <summary>Initial multicast TTL, or null for the kernel default.</summary>
    public int? MulticastTtl { get; init; }
    /// <summary>Initial unicast TTL / hop limit (IP_TTL / IPV6_UNICAST_HOPS: 1–255, or -1 for the system default), or null for the system default.</summary>
    public int? UnicastTtl { get; init; }
    /// <summary>Initial multicast loop, or null for the kernel default.</summary>
    public bool? MulticastLoop { get; init; }
    /// <summary>Initial outgoing multicast interface name.</summary>
    public string? MulticastInterface { get; init; }
    /// <summary>Initial SO_RCVBUF request, or null.</summary>
    public int? ReceiveBufferSize { get; init; }
    /// <summary>Memberships to join at start.</summary>
    public IReadOnlyList<GroupSettings> Groups { get; init; } = [];
    /// <summary>Membership on an absent interface: pending (default) or fail.</summary>
    public AbsentInterfacePolicy AbsentInterface { get; init; } = AbsentInterfacePolicy.Pending;
    /// <summary>How long a send may wait for a full send buffer before it reports timed out.</summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromMilliseconds(100);
    /// <summary>Datagrams per recvmmsg when the engine reads the socket.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>
    /// Read this socket on a thread of its own instead of one of the engine's shared threads (latency-critical
    /// feeds, or span handlers and inline subscribers that may block). A consumer that blocks a shared thread
    /// for longer than <c>dgram.engine.blocking-budget</c> moves its socket to a thread of its own anyway.
    /// </summary>
    public bool DedicatedReadThread { get; init; }
    /// <summary>
    /// Most sends waiting in the mailbox that go out together through one sendmmsg (each still gets its
    /// own answer, in order); 1 sends each alone.
    /// </summary>
    public int SendBatchSize { get; init; } = 64;
    /// <summary>Read buffer per datagram; longer datagrams are truncated (and counted).</summary>
    public int MaxDatagramSize { get; init; } = 65535;
    /// <summary>First restart delay; doubles per consecutive failure up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan MinBackoff { get; init; } = TimeSpan.FromMilliseconds(100);
    /// <summary>Longest restart delay.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Consecutive failed incarnations before the socket gives up and escalates.</summary>
    public int MaxRetries { get; init; } = 10;
    /// <summary>Bind failing at the first start with EADDRNOTAVAIL or EADDRINUSE: fail at once (default) or retry.</summary>
    public BindFailurePolicy BindFailure { get; init; } = BindFailurePolicy.Fail;
    /// <summary>
    /// Most commands (sends, pulls, option changes) the socket actor holds that are not yet answered; one more
    /// is answered at once with <see cref="SocketProtocol.CommandFailed"/> (<see cref="DatagramSocketError.Overloaded"/>)
    /// and counted. Pending pulls count against the same bound.
    /// </summary>
    public int MaxQueuedCommands { get; init; } = 10_000;

    /// <summary>
    /// Checks what can be checked before a socket exists: a valid actor name, groups that are multicast
    /// addresses of the socket's family, each joined once per interface, with either an include or a block
    /// list of distinct unicast sources; no more groups (IPv4) or sources per group than the live kernel
    /// limits allow (<c>net.ipv4.igmp_max_memberships</c>, <c>net.ipv4.igmp_max_msf</c>,
    /// <c>net.ipv6.mld_max_msf</c>); the multicast and unicast TTLs, receive buffer size and send timeout in range;
    /// well-formed interface names (an absent interface is not an error here; a malformed name always is).
    /// Throws <see cref="DatagramSocketException"/> naming the setting.
    /// </summary>
    public void Validate()
    {
        const string op = "SocketSettings";
        if (string.IsNullOrWhiteSpace(Name)) throw new DatagramSocketException(op, DatagramSocketError.InvalidArgument, 0, "Name", "a socket needs a name");
        if (!Akka.Actor.ActorPath.IsValidPathElement(Name))
        {
            // The name is also the actor's: refuse here what ActorOf would refuse later as InvalidActorNameException.
            throw new DatagramSocketException(op, DatagramSocketError.InvalidArgument, 0, $"Name=\"{Name}\"",
                "not a valid actor name: ASCII letters, digits, %XX escapes and -_.*$+:@&=,!~;'\"() only, not starting with '$'");
        }
        if (Family is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6 or AddressFamily.Unix))
        {
            throw new DatagramSocketException(op, DatagramSocketError.NotSupportedForFamily, Sockets.Native.Errno.EAFNOSUPPORT, $"Family={Family}", "InterNetwork, InterNetworkV6 or Unix");
        }
        if (BatchSize is < 1 or > 1024) throw new DatagramSocketException(op, DatagramSocketError.OutOfRange, 0, $"BatchSize={BatchSize}", "1 to 1024");
        if (SendBatchSize is < 1 or > 1024) throw new DatagramSocketException(op, DatagramSocketError.OutOfRange, 0, $"SendBatchSize={SendBatchSize}", "1 to 1024");
        if (MaxQueuedCommands is < 1 or > 1 << 20) throw new DatagramSocketException(op, DatagramSocketError.OutOfRange, 0, $"MaxQueuedCommands={MaxQueuedCommands}", "1 to 1048576");
        if (MaxDatagramSize is < 1 or > 65536) throw new DatagramSocketException(op, DatagramSocketError.OutOfRange, 0, $"MaxDatagramSize={MaxDatagramSize}", "1 to 65536");
        if (MulticastTtl is int ttl && (ttl < -1 || ttl > 255))
        {
            throw new DatagramSocketException(op, DatagramSocketError.OutOfRange, 0, $"MulticastTtl={ttl}", "-1 (the kernel's default) to 255");
        }
        if (UnicastTtl is int uttl && uttl is not (-1 or (>= 1 and <= 255)))
        {
            throw new DatagramSocketException(op, DatagramSocketError.OutOfRange, 0, $"UnicastTtl={uttl}", "1 to 255, or -1 for the system default");
        }
        if (ReceiveBufferSize is int rcv && (rcv <= 0 || rcv > int.MaxValue / 2))
        {
            throw new DatagramSocketException(op, DatagramSocketError.OutOfRange, 0, $"ReceiveBufferSize={rcv}", "1 to 1073741823 bytes");
        }
        if (SendTimeout < TimeSpan.Zero && SendTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new DatagramSocketException(op, DatagramSocketError.OutOfRange, 0, $"SendTimeout={SendTimeout}", ">= 0 or Timeout.InfiniteTimeSpan");
        }
        SettingsValidator.ValidateInterfaceName(MulticastInterface, nameof(MulticastInterface));
        SettingsValidator.ValidateGroups(this);
    }
}
