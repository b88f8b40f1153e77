using System.Runtime.InteropServices;

namespace Dgram.Actors.Tests.Lab;

/// <summary>
/// The tests' own getsockopt, independent of the library's, to read options back from the kernel.
/// </summary>
public static unsafe partial class RawSockOpt
{
    public const int SOL_SOCKET = 1, IPPROTO_IP = 0, IPPROTO_IPV6 = 41;
    public const int SO_REUSEADDR = 2, SO_BROADCAST = 6, SO_SNDBUF = 7, SO_RCVBUF = 8, SO_REUSEPORT = 15;
    public const int IP_TOS = 1, IP_MULTICAST_IF = 32, IP_MULTICAST_TTL = 33, IP_MULTICAST_LOOP = 34, IP_MULTICAST_ALL = 49;
    public const int IPV6_MULTICAST_IF = 17, IPV6_MULTICAST_HOPS = 18, IPV6_MULTICAST_LOOP = 19, IPV6_V6ONLY = 26,
        IPV6_MULTICAST_ALL = 29, IPV6_TCLASS = 67;

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    private static partial int GetSockOpt(SafeHandle fd, int level, int name, void* value, uint* len);

    public static int GetInt(SafeHandle fd, int level, int name)
    {
        int value = 0;
        uint len = sizeof(int);
        if (GetSockOpt(fd, level, name, &value, &len) != 0)
        {
            throw new InvalidOperationException($"getsockopt({level},{name}) errno {Marshal.GetLastPInvokeError()}");
        }
        return len == 1 ? value & 0xFF : value;
    }
}
