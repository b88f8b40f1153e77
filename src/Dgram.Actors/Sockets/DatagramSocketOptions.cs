using Microsoft.Extensions.Logging;

namespace Dgram.Actors.Sockets;

/// <summary>Settings fixed when a <see cref="DatagramSocket"/> is created.</summary>
public sealed class DatagramSocketOptions
{
    /// <summary>Default options.</summary>
    public static DatagramSocketOptions Default { get; } = new();

    /// <summary>IPv6 only: also accept IPv4-mapped traffic (IPV6_V6ONLY=0). Off by default.</summary>
    public bool DualMode { get; init; }

    /// <summary>
    /// Keep Linux's default IP_MULTICAST_ALL / IPV6_MULTICAST_ALL = 1, under which a socket bound to the
    /// wildcard receives every group that any socket on the host joined on its port. Off by default:
    /// sockets of this library receive only the groups they joined themselves.
    /// </summary>
    public bool KernelMulticastAll { get; init; }

    /// <summary>Ancillary data to receive with each datagram.</summary>
    public ReceiveMetadata ReceiveMetadata { get; init; }

    /// <summary>
    /// Drop (and count in <see cref="SocketStatistics.FilteredByInterface"/>) multicast datagrams that
    /// arrived on an interface this socket did not join their group on. IPv6 delivers a joined group's
    /// datagrams whatever interface they arrived on; IPv4 with IP_MULTICAST_ALL=0 already filters.
    /// Turns on <see cref="ReceiveMetadata.PacketInfo"/>.
    /// </summary>
    public bool FilterByJoinedInterface { get; init; }

    /// <summary>Control buffer size for recvmsg, in bytes; 0 picks one that fits every enabled metadata item.</summary>
    public int ControlBufferSize { get; init; }

    /// <summary>
    /// Permissions of the file a Unix socket bound to a path creates. Owner read/write (0600) by default:
    /// a peer needs write permission on it to send to the socket. The bind creates the file with this mode
    /// less the process umask (never wider than asked; the umask itself is process-wide and left alone);
    /// bits the umask took are then set through a descriptor of that file, once it is checked to be the
    /// socket file the bind made (a socket, owned by this user, one link, the inode the kernel bound).
    /// A file swapped in meanwhile fails the bind (<see cref="DatagramSocketError.UnsafePath"/>) and is
    /// left as it is; a directory every user may write without the sticky bit is refused before binding.
    /// </summary>
    public UnixFileMode UnixSocketMode { get; init; } = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Where warnings go (a capped buffer, a join on a unicast-bound socket). Null: nowhere.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Every option, as a record prints (so <see cref="Protocol.SocketSettings"/> prints them too).</summary>
    public override string ToString()
    {
        var builder = new System.Text.StringBuilder(nameof(DatagramSocketOptions)).Append(" { ");
        RecordText.PrintMembers(this, builder);
        return builder.Append(" }").ToString();
    }
}
