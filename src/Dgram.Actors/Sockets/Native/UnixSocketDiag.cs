using System.Runtime.InteropServices;

namespace Dgram.Actors.Sockets.Native;

/// <summary>
/// Which file a bound Unix socket was bound to, asked of the kernel through sock_diag
/// (NETLINK_SOCK_DIAG, UDIAG_SHOW_VFS): the device and inode of the file bind() created, whatever the
/// path holds now. Nothing else tells: fstat on the socket gives its sockfs inode, and a stat of the path
/// shows whatever someone put there since.
/// </summary>
internal static unsafe class UnixSocketDiag
{
    private const ushort SOCK_DIAG_BY_FAMILY = 20, NLMSG_ERROR = 2, NLM_F_REQUEST = 1, UNIX_DIAG_VFS = 1;
    private const uint UDIAG_SHOW_VFS = 0x2;
    /// <summary>struct nlmsghdr, struct unix_diag_req and struct unix_diag_msg.</summary>
    private const int HeaderSize = 16, RequestSize = HeaderSize + 24, MessageSize = 16;
    private const int ReplySize = 512;

    /// <summary>
    /// The file socket <paramref name="fd"/> is bound to: returns 0 with its device (the kernel's
    /// encoding, major &lt;&lt; 20 | minor) and the low 32 bits of its inode (all sock_diag reports), or an
    /// errno: ENOENT when the socket is bound to no path or the kernel has no sock_diag for Unix sockets.
    /// </summary>
    public static int BoundFile(int fd, out uint device, out uint inode)
    {
        device = inode = 0;
        StatxBuffer self;
        fixed (byte* empty = "\0"u8)
        {
            if (Libc.Statx(fd, empty, StatxBuffer.AT_EMPTY_PATH, StatxBuffer.STATX_INO, &self) != 0) return Marshal.GetLastPInvokeError();
        }
        int netlink = Libc.Socket(Const.AF_NETLINK, Const.SOCK_DGRAM | Const.SOCK_CLOEXEC, Const.NETLINK_SOCK_DIAG);
        if (netlink < 0) return Marshal.GetLastPInvokeError();
        try
        {
            byte* request = stackalloc byte[RequestSize];
            new Span<byte>(request, RequestSize).Clear();
            *(uint*)request = RequestSize;
            *(ushort*)(request + 4) = SOCK_DIAG_BY_FAMILY;
            *(ushort*)(request + 6) = NLM_F_REQUEST;
            byte* query = request + HeaderSize;
            query[0] = Const.AF_UNIX;
            *(uint*)(query + 4) = uint.MaxValue; // every state
            *(uint*)(query + 8) = (uint)self.Inode; // the socket's sockfs inode names it
            *(uint*)(query + 12) = UDIAG_SHOW_VFS;
            *(ulong*)(query + 16) = ulong.MaxValue; // no cookie
            if (Libc.SendTo(netlink, request, RequestSize, 0, null, 0) < 0) return Marshal.GetLastPInvokeError();

            // The kernel answers inside the send (sock_diag runs in the sender's context): the reply is queued.
            byte* reply = stackalloc byte[ReplySize];
            nint n = Libc.Recv(netlink, reply, ReplySize, Const.MSG_DONTWAIT);
            if (n < 0) return Marshal.GetLastPInvokeError();
            uint length = n >= HeaderSize ? *(uint*)reply : 0;
            ushort type = *(ushort*)(reply + 4);
            if (length < HeaderSize + sizeof(int) || length > n) return Errno.EPROTO;
            if (type == NLMSG_ERROR) return -*(int*)(reply + HeaderSize) is > 0 and var e ? e : Errno.EPROTO;
            if (type != SOCK_DIAG_BY_FAMILY || length < HeaderSize + MessageSize || *(uint*)(reply + HeaderSize + 4) != (uint)self.Inode)
            {
                return Errno.EPROTO;
            }
            for (uint at = HeaderSize + MessageSize; at + 4 <= length;)
            {
                ushort attributeLength = *(ushort*)(reply + at), attributeType = *(ushort*)(reply + at + 2);
                if (attributeLength < 4) break;
                if (attributeType == UNIX_DIAG_VFS && attributeLength >= 12 && at + 12 <= length)
                {
                    inode = *(uint*)(reply + at + 4);
                    device = *(uint*)(reply + at + 8);
                    return 0;
                }
                at += (uint)(attributeLength + 3) & ~3u;
            }
            return Errno.ENOENT; // bound to no path
        }
        finally
        {
            Libc.Close(netlink);
        }
    }
}
