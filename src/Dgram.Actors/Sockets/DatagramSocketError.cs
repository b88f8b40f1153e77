namespace Dgram.Actors.Sockets;

/// <summary>What kind of failure a <see cref="DatagramSocketException"/> reports.</summary>
public enum DatagramSocketError
{
    /// <summary>The kernel refused the call; <see cref="DatagramSocketException.Errno"/> says why.</summary>
    Kernel,
    /// <summary>An address of the wrong family for this socket (an IPv6 group on an IPv4 socket).</summary>
    FamilyMismatch,
    /// <summary>A "group" that is not a multicast address.</summary>
    NotMulticast,
    /// <summary>No interface has this name (errno ENODEV from if_nametoindex).</summary>
    UnknownInterface,
    /// <summary>An interface name longer than IFNAMSIZ-1 (15) bytes, or empty.</summary>
    InvalidInterfaceName,
    /// <summary>A value outside the range the option accepts (TTL 256, hops -2, a negative timeout).</summary>
    OutOfRange,
    /// <summary>The operation does not exist for this family (broadcast on IPv6, multicast on Unix).</summary>
    NotSupportedForFamily,
    /// <summary>A required argument was null or empty, or malformed.</summary>
    InvalidArgument,
    /// <summary>The socket is closed.</summary>
    Closed,
    /// <summary>The socket actor's queue is full: the command was refused at once, nothing was done (counted).</summary>
    Overloaded,
    /// <summary>
    /// A Unix socket's path is not safe to bind or to give a mode: its directory is writable by every
    /// user without the sticky bit (<c>EPERM</c>, nothing done), or the file at the path after the bind
    /// is not the one the bind made (<c>ELOOP</c> for a symlink, <c>EPERM</c> for any other file,
    /// <c>ENOENT</c> when it is gone; the socket is closed and that file left alone).
    /// </summary>
    UnsafePath,
}
