using System.Runtime.InteropServices;
using System.Text;

namespace Dgram.Actors.Sockets.Native;

/// <summary>What a parsed rtnetlink message is.</summary>
internal enum NetlinkMessageKind : byte
{
    /// <summary>RTM_NEWLINK: an interface exists with these name and flags (new or changed).</summary>
    NewLink,
    /// <summary>RTM_DELLINK: an interface is gone from this namespace (deleted or moved out).</summary>
    DelLink,
    /// <summary>NLMSG_DONE: the end of a dump; <see cref="NetlinkMessage.Errno"/> non-zero when the dump failed.</summary>
    Done,
    /// <summary>NLMSG_ERROR: the kernel refused a request (<see cref="NetlinkMessage.Errno"/>), or 0 for an ACK.</summary>
    Error,
}

/// <summary>
/// One rtnetlink message as the link table needs it: for links the index, the name (null when the
/// message carried no valid IFLA_IFNAME) and ifi_flags; for Done and Error the errno.
/// </summary>
internal readonly record struct NetlinkMessage(
    NetlinkMessageKind Kind, uint Sequence, bool Interrupted, int Index, string? Name, uint Flags, int Errno);

/// <summary>
/// rtnetlink (NETLINK_ROUTE) for interface events: the socket, the RTM_GETLINK dump request and a
/// parser of the kernel's replies and notifications that bounds-checks every length, so a malformed or
/// truncated buffer ends the parse instead of reading past it (nothing here throws).
/// </summary>
internal static unsafe class Netlink
{
    public const int NETLINK_ROUTE = 0, SOCK_RAW = 3, SOCK_NONBLOCK = 0x800;
    /// <summary>Forces SO_RCVBUF past net.core.rmem_max (needs CAP_NET_ADMIN).</summary>
    public const int SO_RCVBUFFORCE = 33;
    /// <summary>The link notification group (RTNLGRP_LINK as a legacy bind mask).</summary>
    public const uint RTMGRP_LINK = 1;

    public const ushort NLMSG_ERROR = 2, NLMSG_DONE = 3, RTM_NEWLINK = 16, RTM_DELLINK = 17, RTM_GETLINK = 18;
    public const ushort NLM_F_REQUEST = 0x1, NLM_F_DUMP_INTR = 0x10, NLM_F_DUMP = 0x300;

    /// <summary>ifi_flags bits (unsigned int, unlike ifreq's short ifr_flags in <see cref="Const"/>).</summary>
    public const uint IFF_UP = 0x1, IFF_RUNNING = 0x40, IFF_LOWER_UP = 0x10000;

    private const ushort IFLA_IFNAME = 3, IFLA_EXT_MASK = 29;
    /// <summary>Leaves the per-link statistics (most of each message) out of a dump.</summary>
    private const uint RTEXT_FILTER_SKIP_STATS = 1 << 3;
    /// <summary>nla_type without NLA_F_NESTED and NLA_F_NET_BYTEORDER.</summary>
    private const ushort NLA_TYPE_MASK = 0x3FFF;
    /// <summary>sizeof(struct nlmsghdr), sizeof(struct ifinfomsg), sizeof(struct rtattr).</summary>
    private const int HeaderSize = 16, IfInfoSize = 16, AttributeHeaderSize = 4;
    /// <summary>The dump request: header, ifinfomsg and one IFLA_EXT_MASK attribute (u32).</summary>
    public const int DumpRequestSize = HeaderSize + IfInfoSize + AttributeHeaderSize + sizeof(uint);

    /// <summary>struct sockaddr_nl.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct SockAddrNl
    {
        public ushort Family;
        public ushort Pad;
        public uint PortId;
        public uint Groups;
    }

    /// <summary>
    /// Opens a NETLINK_ROUTE socket bound to <paramref name="groups"/> (0 for a request-only socket).
    /// Returns 0 and the descriptor, or the errno of the call that failed (<paramref name="failedCall"/>).
    /// </summary>
    public static int Open(uint groups, bool nonBlocking, out int fd, out string failedCall)
    {
        failedCall = "socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)";
        fd = Libc.Socket(Const.AF_NETLINK, SOCK_RAW | Const.SOCK_CLOEXEC | (nonBlocking ? SOCK_NONBLOCK : 0), NETLINK_ROUTE);
        if (fd < 0) return Marshal.GetLastPInvokeError();
        var address = new SockAddrNl { Family = Const.AF_NETLINK, Groups = groups };
        if (Libc.Bind(fd, (byte*)&address, (uint)sizeof(SockAddrNl)) == 0) return 0;
        int errno = Marshal.GetLastPInvokeError();
        failedCall = $"bind(NETLINK_ROUTE, groups 0x{groups:x})";
        Libc.Close(fd);
        fd = -1;
        return errno;
    }

    /// <summary>Writes an RTM_GETLINK dump request (every link, statistics skipped) into <paramref name="buffer"/>.</summary>
    public static int WriteDumpRequest(Span<byte> buffer, uint sequence)
    {
        Span<byte> request = buffer[..DumpRequestSize];
        request.Clear();
        Write(request, 0, (uint)DumpRequestSize);
        Write(request, 4, RTM_GETLINK);
        Write(request, 6, (ushort)(NLM_F_REQUEST | NLM_F_DUMP));
        Write(request, 8, sequence);
        // ifinfomsg all zero: AF_UNSPEC, every index.
        Write(request, HeaderSize + IfInfoSize, (ushort)(AttributeHeaderSize + sizeof(uint)));
        Write(request, HeaderSize + IfInfoSize + 2, IFLA_EXT_MASK);
        Write(request, HeaderSize + IfInfoSize + AttributeHeaderSize, RTEXT_FILTER_SKIP_STATS);
        return DumpRequestSize;
    }

    /// <summary>
    /// Appends the link, done and error messages in <paramref name="buffer"/> (one datagram from the
    /// kernel) to <paramref name="into"/> and skips every other type. A length that does not fit ends
    /// the parse: the messages before it are kept, nothing after it can be framed.
    /// </summary>
    public static void Parse(ReadOnlySpan<byte> buffer, List<NetlinkMessage> into)
    {
        while (buffer.Length >= HeaderSize)
        {
            uint length = Read<uint>(buffer, 0);
            if (length < HeaderSize || length > (uint)buffer.Length) return;
            ushort type = Read<ushort>(buffer, 4), flags = Read<ushort>(buffer, 6);
            uint sequence = Read<uint>(buffer, 8);
            bool interrupted = (flags & NLM_F_DUMP_INTR) != 0;
            ReadOnlySpan<byte> body = buffer[HeaderSize..(int)length];
            switch (type)
            {
                case RTM_NEWLINK or RTM_DELLINK when TryParseLink(body, out int index, out string? name, out uint ifFlags):
                    var kind = type == RTM_NEWLINK ? NetlinkMessageKind.NewLink : NetlinkMessageKind.DelLink;
                    into.Add(new NetlinkMessage(kind, sequence, interrupted, index, name, ifFlags, 0));
                    break;
                case NLMSG_DONE:
                    // Since Linux 4.x NLMSG_DONE carries the dump's status (0 or -errno); older kernels may send none.
                    into.Add(new NetlinkMessage(NetlinkMessageKind.Done, sequence, interrupted, 0, null, 0,
                        body.Length >= sizeof(int) ? ErrnoOf(Read<int>(body, 0)) : 0));
                    break;
                case NLMSG_ERROR:
                    into.Add(new NetlinkMessage(NetlinkMessageKind.Error, sequence, interrupted, 0, null, 0,
                        body.Length >= sizeof(int) ? ErrnoOf(Read<int>(body, 0)) : Errno.EPROTO));
                    break;
            }
            int next = Align(length);
            if (next >= buffer.Length) return;
            buffer = buffer[next..];
        }
    }

    /// <summary>
    /// An ifinfomsg and its IFLA_IFNAME. Only AF_UNSPEC messages describe interfaces: the bridge sends
    /// RTM_NEWLINK/RTM_DELLINK with AF_BRIDGE to the same group for port changes (a port leaving its
    /// bridge is an AF_BRIDGE RTM_DELLINK of an interface that still exists).
    /// </summary>
    private static bool TryParseLink(ReadOnlySpan<byte> body, out int index, out string? name, out uint flags)
    {
        index = 0;
        name = null;
        flags = 0;
        if (body.Length < IfInfoSize || body[0] != 0 /* AF_UNSPEC */) return false;
        index = Read<int>(body, 4);
        flags = Read<uint>(body, 8);
        if (index <= 0) return false;
        ReadOnlySpan<byte> attributes = body[IfInfoSize..];
        while (attributes.Length >= AttributeHeaderSize)
        {
            ushort length = Read<ushort>(attributes, 0);
            if (length < AttributeHeaderSize || length > attributes.Length) break;
            if ((Read<ushort>(attributes, 2) & NLA_TYPE_MASK) == IFLA_IFNAME)
            {
                name = DecodeName(attributes[AttributeHeaderSize..length]);
            }
            int next = Align(length);
            if (next >= attributes.Length) break;
            attributes = attributes[next..];
        }
        return true;
    }

    /// <summary>The name up to its NUL, or null unless it is 1 to IFNAMSIZ-1 bytes (all the kernel allows).</summary>
    private static string? DecodeName(ReadOnlySpan<byte> value)
    {
        int end = value.IndexOf((byte)0);
        if (end < 0) end = value.Length;
        return end is > 0 and < Const.IfNameSize ? Encoding.UTF8.GetString(value[..end]) : null;
    }

    /// <summary>A netlink status (0 or -errno) as a positive errno; anything out of errno range is EPROTO.</summary>
    private static int ErrnoOf(int status) => status switch
    {
        0 => 0,
        < 0 and > -4096 => -status,
        _ => Errno.EPROTO,
    };

    private static int Align(uint length) => (int)Math.Min((length + 3L) & ~3L, int.MaxValue);

    private static T Read<T>(ReadOnlySpan<byte> span, int offset) where T : unmanaged => MemoryMarshal.Read<T>(span[offset..]);

    private static void Write<T>(Span<byte> span, int offset, T value) where T : unmanaged => MemoryMarshal.Write(span[offset..], in value);
}
