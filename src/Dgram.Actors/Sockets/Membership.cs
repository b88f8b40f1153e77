using System.Net;

namespace Dgram.Actors.Sockets;

/// <summary>How a membership filters sources (RFC 3376 filter modes).</summary>
public enum FilterMode
{
    /// <summary>Any-source membership: every source except the blocked ones (EXCLUDE mode).</summary>
    Exclude,
    /// <summary>Source-specific membership: only the joined sources (INCLUDE mode).</summary>
    Include,
}

/// <summary>
/// A group membership as this socket recorded it: group, interface, filter mode and sources. The
/// kernel's tables are the truth; this record is what a supervisor replays to restore a socket.
/// </summary>
/// <param name="Group">The multicast group.</param>
/// <param name="InterfaceIndex">The interface index the join named (0: the kernel's choice).</param>
/// <param name="InterfaceName">The interface name the join named, or null.</param>
/// <param name="Mode">Include (source-specific) or exclude (any-source).</param>
/// <param name="Sources">Included sources (Include) or blocked sources (Exclude).</param>
public sealed record Membership(IPAddress Group, int InterfaceIndex, string? InterfaceName, FilterMode Mode, IReadOnlyList<IPAddress> Sources)
{
    private bool PrintMembers(System.Text.StringBuilder builder) => RecordText.PrintMembers(this, builder);
}
