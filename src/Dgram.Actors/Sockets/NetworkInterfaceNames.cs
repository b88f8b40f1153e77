using System.Text;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Sockets;

/// <summary>Interface name ↔ index (if_nametoindex / if_indextoname), the way multicast options name interfaces.</summary>
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
            _ => new DatagramSocketException(operation, DatagramSocketError.Kernel, errno, $"\"{name}\"", "if_nametoindex failed"),
        };
    }

    /// <summary>Looks up an interface index; returns 0 on success or the errno (EINVAL for a malformed name).</summary>
    public static unsafe int TryGetIndex(string? name, out int index)
    {
        index = 0;
        if (string.IsNullOrEmpty(name) || Encoding.UTF8.GetByteCount(name) >= Const.IfNameSize || name.Contains('\0'))
        {
            return Errno.EINVAL;
        }
        byte* buf = stackalloc byte[Const.IfNameSize];
        int n = Encoding.UTF8.GetBytes(name, new Span<byte>(buf, Const.IfNameSize));
        buf[n] = 0;
        uint i = Libc.IfNameToIndex(buf);
        if (i == 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            return errno == 0 ? Errno.ENODEV : errno;
        }
        index = (int)i;
        return 0;
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

    /// <summary>The name of interface <paramref name="index"/>, or null when none has it.</summary>
    public static unsafe string? GetName(int index)
    {
        if (index <= 0) return null;
        byte* buf = stackalloc byte[Const.IfNameSize];
        byte* r = Libc.IfIndexToName((uint)index, buf);
        return r == null ? null : Encoding.UTF8.GetString(buf, IndexOfNul(buf));
    }

    private static unsafe int IndexOfNul(byte* buf)
    {
        int i = 0;
        while (i < Const.IfNameSize && buf[i] != 0) i++;
        return i;
    }
}
