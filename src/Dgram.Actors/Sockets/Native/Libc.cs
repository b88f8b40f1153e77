using System.Runtime.InteropServices;

namespace Dgram.Actors.Sockets.Native;

/// <summary>
/// The thin platform layer: raw libc calls on a file descriptor. Every call returns -1 and leaves
/// errno for <see cref="Marshal.GetLastPInvokeError"/>; nothing here throws. The public surface
/// decides when a failure becomes an exception (as dotnet/runtime's SocketPal.Unix does).
/// </summary>
internal static unsafe partial class Libc
{
    private const string Lib = "libc";

    [LibraryImport(Lib, EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    [LibraryImport(Lib, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport(Lib, EntryPoint = "chmod", SetLastError = true)]
    internal static partial int Chmod(byte* path, uint mode);

    /// <summary>fchmod(2) on a socket sets its sockfs inode's mode, which bind() gives the file it creates (less the umask).</summary>
    [LibraryImport(Lib, EntryPoint = "fchmod", SetLastError = true)]
    internal static partial int FChmod(int fd, uint mode);

    [LibraryImport(Lib, EntryPoint = "open", SetLastError = true)]
    internal static partial int Open(byte* path, int flags);

    [LibraryImport(Lib, EntryPoint = "geteuid")]
    internal static partial uint GetEUid();

    [LibraryImport(Lib, EntryPoint = "unlink", SetLastError = true)]
    internal static partial int Unlink(byte* path);

    /// <summary>statx(2): its struct is the same on every architecture (unlike stat's).</summary>
    [LibraryImport(Lib, EntryPoint = "statx", SetLastError = true)]
    internal static partial int Statx(int dirfd, byte* path, int flags, uint mask, StatxBuffer* buffer);

    [LibraryImport(Lib, EntryPoint = "shutdown", SetLastError = true)]
    internal static partial int Shutdown(int fd, int how);

    [LibraryImport(Lib, EntryPoint = "bind", SetLastError = true)]
    internal static partial int Bind(int fd, byte* addr, uint addrlen);

    [LibraryImport(Lib, EntryPoint = "connect", SetLastError = true)]
    internal static partial int Connect(int fd, byte* addr, uint addrlen);

    [LibraryImport(Lib, EntryPoint = "getsockname", SetLastError = true)]
    internal static partial int GetSockName(int fd, byte* addr, uint* addrlen);

    [LibraryImport(Lib, EntryPoint = "getpeername", SetLastError = true)]
    internal static partial int GetPeerName(int fd, byte* addr, uint* addrlen);

    [LibraryImport(Lib, EntryPoint = "setsockopt", SetLastError = true)]
    internal static partial int SetSockOpt(int fd, int level, int name, void* value, uint len);

    [LibraryImport(Lib, EntryPoint = "getsockopt", SetLastError = true)]
    internal static partial int GetSockOpt(int fd, int level, int name, void* value, uint* len);

    [LibraryImport(Lib, EntryPoint = "recv", SetLastError = true)]
    internal static partial nint Recv(int fd, byte* buf, nuint len, int flags);

    [LibraryImport(Lib, EntryPoint = "recvmsg", SetLastError = true)]
    internal static partial nint RecvMsg(int fd, MsgHdr* msg, int flags);

    [LibraryImport(Lib, EntryPoint = "recvmmsg", SetLastError = true)]
    internal static partial int RecvMMsg(int fd, MMsgHdr* msgs, uint vlen, int flags, void* timeout);

    [LibraryImport(Lib, EntryPoint = "sendmmsg", SetLastError = true)]
    internal static partial int SendMMsg(int fd, MMsgHdr* msgs, uint vlen, int flags);

    [LibraryImport(Lib, EntryPoint = "sendto", SetLastError = true)]
    internal static partial nint SendTo(int fd, byte* buf, nuint len, int flags, byte* addr, uint addrlen);

    [LibraryImport(Lib, EntryPoint = "sendmsg", SetLastError = true)]
    internal static partial nint SendMsg(int fd, MsgHdr* msg, int flags);

    [LibraryImport(Lib, EntryPoint = "poll", SetLastError = true)]
    internal static partial int Poll(PollFd* fds, nuint nfds, int timeoutMs);

    [LibraryImport(Lib, EntryPoint = "eventfd", SetLastError = true)]
    internal static partial int EventFd(uint initval, int flags);

    [LibraryImport(Lib, EntryPoint = "read", SetLastError = true)]
    internal static partial nint Read(int fd, void* buf, nuint count);

    [LibraryImport(Lib, EntryPoint = "write", SetLastError = true)]
    internal static partial nint Write(int fd, void* buf, nuint count);

    [LibraryImport(Lib, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int Ioctl(int fd, nuint request, void* arg);
}

/// <summary>struct iovec (LP64).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct IoVec
{
    public byte* Base;
    public nuint Length;
}

/// <summary>struct msghdr (LP64 Linux: 56 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct MsgHdr
{
    public byte* Name;
    public uint NameLength;
    public IoVec* Iov;
    public nuint IovLength;
    public byte* Control;
    public nuint ControlLength;
    public int Flags;
}

/// <summary>struct mmsghdr (LP64 Linux: 64 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct MMsgHdr
{
    public MsgHdr Header;
    public uint Length;
}

/// <summary>struct pollfd.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PollFd
{
    public int Fd;
    public short Events;
    public short Revents;
}

/// <summary>struct statx (256 bytes, the same layout on every architecture); only the fields used here.</summary>
[StructLayout(LayoutKind.Explicit, Size = 256)]
internal struct StatxBuffer
{
    public const uint STATX_TYPE = 0x1, STATX_MODE = 0x2, STATX_INO = 0x100, STATX_BASIC_STATS = 0x7FF;
    public const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_EMPTY_PATH = 0x1000;
    public const int S_IFMT = 0xF000, S_IFSOCK = 0xC000, S_IFLNK = 0xA000, S_ISVTX = 0x200, S_IWOTH = 0x2;

    [FieldOffset(0)] public uint Mask;
    [FieldOffset(16)] public uint Nlink;
    [FieldOffset(20)] public uint Uid;
    [FieldOffset(28)] public ushort Mode;
    [FieldOffset(32)] public ulong Inode;
    [FieldOffset(136)] public uint DevMajor;
    [FieldOffset(140)] public uint DevMinor;
}

/// <summary>Linux constants (x86-64 and arm64 share these values, except where said).</summary>
internal static class Const
{
    public const int AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10, AF_NETLINK = 16;
    public const int NETLINK_SOCK_DIAG = 4;
    public const int O_CLOEXEC = 0x80000, O_PATH = 0x200000;
    /// <summary>O_NOFOLLOW differs: 0100000 on arm and arm64, 0400000 on x86-64 and most others.</summary>
    public static readonly int O_NOFOLLOW = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x8000 : 0x20000;
    public const int SOCK_DGRAM = 2, SOCK_CLOEXEC = 0x80000;

    public const int SOL_SOCKET = 1;
    public const int SO_REUSEADDR = 2, SO_TYPE = 3, SO_ERROR = 4, SO_BROADCAST = 6, SO_SNDBUF = 7, SO_RCVBUF = 8,
        SO_REUSEPORT = 15, SO_TIMESTAMPNS = 35, SO_RXQ_OVFL = 40;
    public const int SCM_TIMESTAMPNS = SO_TIMESTAMPNS;

    public const int IPPROTO_IP = 0, IPPROTO_IPV6 = 41;
    /// <summary>UDP generic segmentation offload: a cmsg at SOL_UDP carrying the segment size (u16).</summary>
    public const int SOL_UDP = 17, UDP_SEGMENT = 103;
    public const int IP_TOS = 1, IP_TTL = 2, IP_PKTINFO = 8, IP_RECVTTL = 12, IP_RECVTOS = 13,
        IP_MULTICAST_IF = 32, IP_MULTICAST_TTL = 33, IP_MULTICAST_LOOP = 34, IP_MULTICAST_ALL = 49;
    public const int IPV6_UNICAST_HOPS = 16, IPV6_MULTICAST_IF = 17, IPV6_MULTICAST_HOPS = 18, IPV6_MULTICAST_LOOP = 19,
        IPV6_V6ONLY = 26, IPV6_MULTICAST_ALL = 29, IPV6_RECVPKTINFO = 49, IPV6_PKTINFO = 50,
        IPV6_RECVHOPLIMIT = 51, IPV6_HOPLIMIT = 52, IPV6_RECVTCLASS = 66, IPV6_TCLASS = 67;

    // Protocol-independent multicast API (RFC 3678), valid at IPPROTO_IP and IPPROTO_IPV6.
    public const int MCAST_JOIN_GROUP = 42, MCAST_BLOCK_SOURCE = 43, MCAST_UNBLOCK_SOURCE = 44,
        MCAST_LEAVE_GROUP = 45, MCAST_JOIN_SOURCE_GROUP = 46, MCAST_LEAVE_SOURCE_GROUP = 47;

    public const int MSG_PEEK = 0x2, MSG_CTRUNC = 0x8, MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000;
    public const short POLLIN = 0x1, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20, POLLRDHUP = 0x2000;
    public const int EFD_NONBLOCK = 0x800, EFD_CLOEXEC = 0x80000;
    public const nuint FIONREAD = 0x541B;
    public const int SHUT_RDWR = 2;

    /// <summary>sizeof(struct sockaddr_storage).</summary>
    public const int SockAddrStorage = 128;
    /// <summary>sizeof(struct group_req): u32 interface, 4 bytes padding, sockaddr_storage at 8.</summary>
    public const int GroupReqSize = 8 + SockAddrStorage;
    /// <summary>sizeof(struct group_source_req): group at 8, source at 136.</summary>
    public const int GroupSourceReqSize = 8 + 2 * SockAddrStorage;
    public const nuint SIOCGIFNAME = 0x8910, SIOCGIFFLAGS = 0x8913, SIOCGIFINDEX = 0x8933;
    public const short IFF_UP = 0x1, IFF_RUNNING = 0x40;
    /// <summary>sizeof(struct ifreq).</summary>
    public const int IfReqSize = 40;
    /// <summary>IFNAMSIZ including the terminating NUL.</summary>
    public const int IfNameSize = 16;
}
