namespace Dgram.Actors.Sockets;

/// <summary>Per-datagram ancillary data to ask the kernel for (opt-in: each costs control-buffer space).</summary>
[Flags]
public enum ReceiveMetadata
{
    /// <summary>Nothing beyond payload and source.</summary>
    None = 0,
    /// <summary>Destination address and arrival interface (IP_PKTINFO / IPV6_RECVPKTINFO).</summary>
    PacketInfo = 1,
    /// <summary>TTL / hop limit (IP_RECVTTL / IPV6_RECVHOPLIMIT).</summary>
    HopLimit = 2,
    /// <summary>TOS / traffic class (IP_RECVTOS / IPV6_RECVTCLASS).</summary>
    TrafficClass = 4,
    /// <summary>The kernel's count of datagrams dropped on a full receive queue (SO_RXQ_OVFL).</summary>
    QueueOverflow = 8,
    /// <summary>Kernel receive timestamp in nanoseconds (SO_TIMESTAMPNS).</summary>
    Timestamp = 16,
    /// <summary>Everything above.</summary>
    All = PacketInfo | HopLimit | TrafficClass | QueueOverflow | Timestamp,
}

/// <summary>Which address-reuse options to set before bind.</summary>
[Flags]
public enum AddressReuse
{
    /// <summary>Exclusive port.</summary>
    None = 0,
    /// <summary>
    /// SO_REUSEADDR alone: several multicast receivers share a port and each gets its own copy with its
    /// own source filters. (.NET's <c>ReuseAddress</c> also sets SO_REUSEPORT; this does not.)
    /// </summary>
    ReuseAddress = 1,
    /// <summary>
    /// SO_REUSEPORT: load-balance unicast among sockets. With IPv4 multicast source filters it leaks:
    /// the kernel's early demux can deliver a blocked source to a filtering socket. Ask for it only when meant.
    /// </summary>
    ReusePort = 2,
}

/// <summary>What a buffer-size change did.</summary>
/// <param name="Previous">The size in force before (as getsockopt reported it).</param>
/// <param name="Requested">The size asked for.</param>
/// <param name="Effective">The size the kernel granted, read back (Linux doubles the request for bookkeeping).</param>
/// <param name="Capped">True when <c>net.core.rmem_max</c> / <c>wmem_max</c> limited the grant.</param>
public readonly record struct BufferSizeResult(int Previous, int Requested, int Effective, bool Capped);
