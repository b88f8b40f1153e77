using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Dgram.Actors.Sockets.Native;

/// <summary>
/// Linux errno numbers, their names and the nearest <see cref="SocketError"/>. .NET folds several
/// errnos together and loses others (ENODEV arrives as "Unknown socket error"), so the library keeps
/// the errno itself and maps it only to fill the <see cref="SocketException"/> base.
/// </summary>
public static class Errno
{
#pragma warning disable CS1591 // The names are the documentation.
    public const int EPERM = 1, ENOENT = 2, EINTR = 4, EBADF = 9, EAGAIN = 11, ENOMEM = 12, EACCES = 13,
        EFAULT = 14, EEXIST = 17, ENODEV = 19, EINVAL = 22, ENFILE = 23, EMFILE = 24, ENAMETOOLONG = 36, ENOTSOCK = 88,
        EDESTADDRREQ = 89, EMSGSIZE = 90, ENOPROTOOPT = 92, EOPNOTSUPP = 95, EAFNOSUPPORT = 97,
        EADDRINUSE = 98, EADDRNOTAVAIL = 99, ENETDOWN = 100, ENETUNREACH = 101, ECONNRESET = 104,
        ENOBUFS = 105, EISCONN = 106, ENOTCONN = 107, ETIMEDOUT = 110, ECONNREFUSED = 111,
        EHOSTUNREACH = 113, EPIPE = 32, ENXIO = 6, EIO = 5, ESHUTDOWN = 108, ELOOP = 40, EPROTO = 71;
#pragma warning restore CS1591

    /// <summary>The symbolic name of a Linux errno (<c>ENODEV</c>), or <c>E#n</c> for one not in the table.</summary>
    public static string Name(int errno) => errno switch
    {
        0 => "OK",
        1 => "EPERM", 2 => "ENOENT", 3 => "ESRCH", 4 => "EINTR", 5 => "EIO", 6 => "ENXIO", 7 => "E2BIG",
        9 => "EBADF", 11 => "EAGAIN", 12 => "ENOMEM", 13 => "EACCES", 14 => "EFAULT", 16 => "EBUSY",
        17 => "EEXIST", 19 => "ENODEV", 20 => "ENOTDIR", 21 => "EISDIR", 22 => "EINVAL", 23 => "ENFILE",
        24 => "EMFILE", 28 => "ENOSPC", 32 => "EPIPE", 34 => "ERANGE", 36 => "ENAMETOOLONG", 38 => "ENOSYS",
        40 => "ELOOP", 61 => "ENODATA", 71 => "EPROTO", 75 => "EOVERFLOW", 88 => "ENOTSOCK",
        89 => "EDESTADDRREQ", 90 => "EMSGSIZE", 91 => "EPROTOTYPE", 92 => "ENOPROTOOPT",
        93 => "EPROTONOSUPPORT", 94 => "ESOCKTNOSUPPORT", 95 => "EOPNOTSUPP", 96 => "EPFNOSUPPORT",
        97 => "EAFNOSUPPORT", 98 => "EADDRINUSE", 99 => "EADDRNOTAVAIL", 100 => "ENETDOWN",
        101 => "ENETUNREACH", 102 => "ENETRESET", 103 => "ECONNABORTED", 104 => "ECONNRESET",
        105 => "ENOBUFS", 106 => "EISCONN", 107 => "ENOTCONN", 108 => "ESHUTDOWN", 110 => "ETIMEDOUT",
        111 => "ECONNREFUSED", 112 => "EHOSTDOWN", 113 => "EHOSTUNREACH", 114 => "EALREADY",
        115 => "EINPROGRESS", 125 => "ECANCELED",
        _ => "E#" + errno,
    };

    /// <summary>
    /// Whether a send or receive that failed with <paramref name="errno"/> leaves a descriptor that cannot
    /// be used again, so its owner replaces the socket instead of reporting one failed datagram and going
    /// on. The rest are per datagram or passing (ECONNREFUSED, EMSGSIZE, ENETUNREACH, EHOSTUNREACH, EPERM,
    /// EACCES, ENOBUFS, ENOMEM, EAGAIN, ENETDOWN during a carrier flap, EADDRNOTAVAIL while an address is
    /// away): the next datagram may go.
    /// </summary>
    /// <param name="errno">The errno of the failed call.</param>
    /// <param name="receiving">True for a receive: EINVAL is per datagram on a send, and the end of a receive.</param>
    internal static bool IsBroken(int errno, bool receiving) => errno switch
    {
        // The descriptor is closed, or its number now names something else.
        EBADF or ENOTSOCK => true,
        // shutdown() ran (a close from another thread does this first): sends get EPIPE for ever, and a
        // receive that polled a hang-up reports ESHUTDOWN (recvmsg itself only says EAGAIN).
        EPIPE or ESHUTDOWN => true,
        // The kernel could not use the memory it was given: the buffers are gone, nothing is safe to reuse.
        EFAULT => true,
        // A send's EINVAL is that datagram's destination (port 0, measured on both families): the next
        // may go. A receive has no per-datagram argument, so EINVAL is the call itself, the same on every
        // retry: a read loop going on would spin.
        EINVAL => receiving,
        _ => false,
    };

    /// <summary>The C library's description of an errno (strerror).</summary>
    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>The nearest <see cref="SocketError"/>; <see cref="SocketError.SocketError"/> where .NET has none.</summary>
    public static SocketError ToSocketError(int errno) => errno switch
    {
        0 => SocketError.Success,
        EAGAIN => SocketError.WouldBlock,
        EINTR => SocketError.Interrupted,
        EBADF => SocketError.OperationAborted,
        EACCES or EPERM => SocketError.AccessDenied,
        EFAULT => SocketError.Fault,
        EINVAL => SocketError.InvalidArgument,
        EMFILE or ENFILE => SocketError.TooManyOpenSockets,
        ENOTSOCK => SocketError.NotSocket,
        EDESTADDRREQ => SocketError.DestinationAddressRequired,
        EMSGSIZE => SocketError.MessageSize,
        ENOPROTOOPT => SocketError.ProtocolOption,
        EOPNOTSUPP => SocketError.OperationNotSupported,
        EAFNOSUPPORT => SocketError.AddressFamilyNotSupported,
        EADDRINUSE => SocketError.AddressAlreadyInUse,
        EADDRNOTAVAIL => SocketError.AddressNotAvailable,
        ENETDOWN => SocketError.NetworkDown,
        ENETUNREACH => SocketError.NetworkUnreachable,
        ECONNRESET => SocketError.ConnectionReset,
        ENOBUFS or ENOMEM => SocketError.NoBufferSpaceAvailable,
        EISCONN => SocketError.IsConnected,
        ENOTCONN => SocketError.NotConnected,
        EPIPE or ESHUTDOWN => SocketError.Shutdown,
        ETIMEDOUT => SocketError.TimedOut,
        ECONNREFUSED => SocketError.ConnectionRefused,
        EHOSTUNREACH => SocketError.HostUnreachable,
        _ => SocketError.SocketError,
    };
}
