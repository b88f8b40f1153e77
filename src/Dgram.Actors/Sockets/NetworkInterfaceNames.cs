using System.Runtime.InteropServices;
using System.Text;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Sockets;

/// <summary>Interface name ↔ index (what if_nametoindex / if_indextoname do), the way multicast options name interfaces.</summary>
public static class NetworkInterfaceNames
{
    /// <summary>The index of the interface named <paramref name="name"/>; throws when none exists.</summary>
    public static int GetIndex(string name, string operation = nameof(GetIndex))
    {
        int errno = TryGetIndex(name, out int index);
        if (errno == 0) return index;
        throw errno switch
        {
            Errno.ENODEV => new DatagramSocketException(operation, DatagramSocketError.UnknownInterface, errno, $"\"{name}\"", "no interface has this name"),
            Errno.EINVAL => new DatagramSocketException(operation, DatagramSocketError.InvalidInterfaceName, 0, $"\"{name}\"", "an interface name is 1 to 15 bytes"),
            _ => LookupFailed(operation, $"\"{name}\"", errno),
        };
    }

    /// <summary>
    /// Looks up an interface index; returns 0 on success or the errno: ENODEV when no interface has the
    /// name, EINVAL for a malformed name, EMFILE or ENFILE when no descriptor is left for the lookup.
    /// </summary>
    public static unsafe int TryGetIndex(string? name, out int index)
    {
        index = 0;
        if (string.IsNullOrEmpty(name) || Encoding.UTF8.GetByteCount(name) >= Const.IfNameSize || name.Contains('\0'))
        {
            return Errno.EINVAL;
        }
        byte* ifreq = stackalloc byte[Const.IfReqSize];
        new Span<byte>(ifreq, Const.IfReqSize).Clear();
        Encoding.UTF8.GetBytes(name, new Span<byte>(ifreq, Const.IfNameSize));
        int errno = InterfaceIoctl(Const.SIOCGIFINDEX, ifreq);
        if (errno == 0) index = *(int*)(ifreq + Const.IfNameSize);
        return errno;
    }

    /// <summary>
    /// Whether the interface is up and running (IFF_UP and IFF_RUNNING, i.e. operationally up, from
    /// SIOCGIFFLAGS), or null when it does not exist.
    /// Read through a socket's descriptor, so it sees the socket's network namespace (sysfs may not).
    /// </summary>
    internal static unsafe bool? IsUp(SafeFdHandle socket, string name)
    {
        byte* ifreq = stackalloc byte[Const.IfReqSize];
        new Span<byte>(ifreq, Const.IfReqSize).Clear();
        if (Encoding.UTF8.GetByteCount(name) >= Const.IfNameSize) return null;
        Encoding.UTF8.GetBytes(name, new Span<byte>(ifreq, Const.IfNameSize));
        bool added = false;
        try
        {
            socket.DangerousAddRef(ref added);
            if (Libc.Ioctl(socket.Fd, Const.SIOCGIFFLAGS, ifreq) != 0) return null;
        }
        catch (ObjectDisposedException)
        {
            return null;
        }
        finally
        {
            if (added) socket.DangerousRelease();
        }
        const short upAndRunning = Const.IFF_UP | Const.IFF_RUNNING;
        return (*(short*)(ifreq + Const.IfNameSize) & upAndRunning) == upAndRunning;
    }

    /// <summary>The name of interface <paramref name="index"/>, or null when none has it (or it cannot be looked up).</summary>
    public static string? GetName(int index) => TryGetName(index, out string? name) == 0 ? name : null;

    /// <summary>Looks up an interface name; returns 0 on success or the errno (ENODEV when no interface has the index).</summary>
    internal static unsafe int TryGetName(int index, out string? name)
    {
        name = null;
        if (index <= 0) return Errno.ENODEV;
        byte* ifreq = stackalloc byte[Const.IfReqSize];
        new Span<byte>(ifreq, Const.IfReqSize).Clear();
        *(int*)(ifreq + Const.IfNameSize) = index;
        int errno = InterfaceIoctl(Const.SIOCGIFNAME, ifreq);
        if (errno != 0) return errno;
        ReadOnlySpan<byte> raw = new(ifreq, Const.IfNameSize);
        int end = raw.IndexOf((byte)0);
        name = Encoding.UTF8.GetString(end < 0 ? raw : raw[..end]);
        return 0;
    }

    /// <summary>The error for a lookup that failed other than by a missing interface (EMFILE: no descriptor for it).</summary>
    internal static DatagramSocketException LookupFailed(string operation, string args, int errno) =>
        new(operation, DatagramSocketError.Kernel, errno, args, errno is Errno.EMFILE or Errno.ENFILE
            ? "no descriptor left to look the interface up (the lookup opens a socket); the interface may well exist"
            : "the interface lookup failed");

    /// <summary>
    /// An interface ioctl (SIOCGIFINDEX, SIOCGIFNAME) on a socket of its own, as if_nametoindex and
    /// if_indextoname make one, but keeping socket()'s errno: glibc's functions report a failed socket()
    /// as ENOENT (measured under EMFILE: the same answer as for an absent interface).
    /// </summary>
    private static unsafe int InterfaceIoctl(nuint request, byte* ifreq)
    {
        int fd = Libc.Socket(Const.AF_UNIX, Const.SOCK_DGRAM | Const.SOCK_CLOEXEC, 0);
        if (fd < 0) return Marshal.GetLastPInvokeError();
        int errno = Libc.Ioctl(fd, request, ifreq) == 0 ? 0 : Marshal.GetLastPInvokeError();
        Libc.Close(fd);
        return errno;
    }
}
