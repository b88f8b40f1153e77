using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Dgram.Bench.Child;

/// <summary>
/// The bench's own rtnetlink socket (NETLINK_ROUTE bound to RTMGRP_LINK), apart from the library's, so the
/// recovery line is timed from the kernel's event as any process sees it. A minimal parser (the library's
/// Netlink is internal): nlmsghdr (len u32, type u16, flags u16, seq u32, pid u32), then for RTM_NEWLINK and
/// RTM_DELLINK an ifinfomsg (family u8, pad u8, type u16, index i32, flags u32, change u32) and rtattrs
/// (len u16, type u16) among which IFLA_IFNAME; lengths are checked, a malformed message ends the parse.
/// </summary>
internal sealed partial class LinkEvents : IDisposable
{
    private const int AF_NETLINK = 16, SOCK_RAW = 3, SOCK_CLOEXEC = 0x80000, NETLINK_ROUTE = 0, RTMGRP_LINK = 1;
    private const int SOL_SOCKET = 1, SO_RCVBUF = 8, MSG_DONTWAIT = 0x40, EINTR = 4, EAGAIN = 11, ENOBUFS = 105;
    private const ushort RTM_NEWLINK = 16, RTM_DELLINK = 17, IFLA_IFNAME = 3, NLA_TYPE_MASK = 0x3FFF;
    private const short POLLIN = 1;

    private readonly int _fd;
    private readonly byte[] _buffer = new byte[64 << 10];

    /// <summary>A link message: new (or changed) or deleted, the index, the name if it carried one, and when the bench's recv returned it (Stopwatch ticks).</summary>
    internal readonly record struct LinkEvent(bool New, int Index, string? Name, long Timestamp);

    private LinkEvents(int fd) => _fd = fd;

    /// <summary>Opens and binds the socket; throws naming the call and errno when the kernel refuses.</summary>
    public static unsafe LinkEvents Open()
    {
        int fd = Socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0) throw Failed("socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)");
        var events = new LinkEvents(fd);
        try
        {
            // struct sockaddr_nl { u16 family; u16 pad; u32 pid (0: the kernel assigns); u32 groups; }
            byte* address = stackalloc byte[12];
            new Span<byte>(address, 12).Clear();
            BinaryPrimitives.WriteUInt16LittleEndian(new Span<byte>(address, 2), AF_NETLINK);
            BinaryPrimitives.WriteUInt32LittleEndian(new Span<byte>(address + 8, 4), RTMGRP_LINK);
            if (Bind(fd, address, 12) != 0) throw Failed("bind(NETLINK_ROUTE, RTMGRP_LINK)");
            int size = 1 << 20; // room for every message of a cycle: the bench reads only when it waits for one
            if (SetSockOpt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(int)) != 0) throw Failed("setsockopt(SO_RCVBUF)");
            return events;
        }
        catch
        {
            events.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for the first RTM_NEWLINK of <paramref name="name"/> whose index
    /// <paramref name="accept"/> takes, and returns it with the time its datagram was read.
    /// </summary>
    public LinkEvent WaitNew(string name, Func<int, bool> accept, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        var events = new List<LinkEvent>();
        while (clock.Elapsed < timeout)
        {
            events.Clear();
            if (!Receive(events, timeout - clock.Elapsed)) break;
            foreach (LinkEvent e in events)
            {
                if (e.New && e.Name == name && accept(e.Index)) return e;
            }
        }
        throw new TimeoutException($"no RTM_NEWLINK for {name} with a new index within {timeout.TotalSeconds:F0} s");
    }

    /// <summary>Discards every message queued now.</summary>
    public unsafe void Drain()
    {
        fixed (byte* b = _buffer)
        {
            while (true)
            {
                if (Recv(_fd, b, (nuint)_buffer.Length, MSG_DONTWAIT) >= 0) continue;
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EAGAIN) return;
                if (errno is not (EINTR or ENOBUFS)) throw Failed("recv(NETLINK_ROUTE, MSG_DONTWAIT)", errno);
            }
        }
    }

    /// <summary>Waits (poll) for one datagram and appends its link messages; false when none came within the timeout.</summary>
    private unsafe bool Receive(List<LinkEvent> into, TimeSpan timeout)
    {
        var fds = new PollFd { Fd = _fd, Events = POLLIN };
        int ready = Poll(&fds, 1, (int)Math.Ceiling(timeout.TotalMilliseconds));
        if (ready < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR) return true;
            throw Failed("poll(NETLINK_ROUTE)", errno);
        }
        if (ready == 0) return false;
        nint n;
        fixed (byte* b = _buffer) n = Recv(_fd, b, (nuint)_buffer.Length, MSG_DONTWAIT);
        long now = Stopwatch.GetTimestamp();
        if (n < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            // ENOBUFS: the kernel dropped messages for this socket (the bench sees it as a timeout); the next one is still read.
            if (errno is EINTR or EAGAIN or ENOBUFS) return true;
            throw Failed("recv(NETLINK_ROUTE)", errno);
        }
        Parse(_buffer.AsSpan(0, (int)n), now, into);
        return true;
    }

    private static void Parse(ReadOnlySpan<byte> buffer, long timestamp, List<LinkEvent> into)
    {
        while (buffer.Length >= 16)
        {
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(buffer);
            if (length < 16 || length > buffer.Length) return;
            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(buffer[4..]);
            ReadOnlySpan<byte> body = buffer[16..(int)length];
            // Only AF_UNSPEC ifinfomsgs describe interfaces (a bridge sends AF_BRIDGE ones for its ports).
            if (type is RTM_NEWLINK or RTM_DELLINK && body.Length >= 16 && body[0] == 0)
            {
                into.Add(new LinkEvent(type == RTM_NEWLINK, BinaryPrimitives.ReadInt32LittleEndian(body[4..]), Name(body[16..]), timestamp));
            }
            int next = (int)((length + 3) & ~3u);
            if (next >= buffer.Length) return;
            buffer = buffer[next..];
        }
    }

    private static string? Name(ReadOnlySpan<byte> attributes)
    {
        while (attributes.Length >= 4)
        {
            ushort length = BinaryPrimitives.ReadUInt16LittleEndian(attributes);
            if (length < 4 || length > attributes.Length) return null;
            if ((BinaryPrimitives.ReadUInt16LittleEndian(attributes[2..]) & NLA_TYPE_MASK) == IFLA_IFNAME)
            {
                ReadOnlySpan<byte> value = attributes[4..length];
                int end = value.IndexOf((byte)0);
                return Encoding.UTF8.GetString(end < 0 ? value : value[..end]);
            }
            int next = (length + 3) & ~3;
            if (next >= attributes.Length) return null;
            attributes = attributes[next..];
        }
        return null;
    }

    private static InvalidOperationException Failed(string call, int? errno = null)
    {
        int e = errno ?? Marshal.GetLastPInvokeError();
        return new InvalidOperationException($"link events: {call} failed: errno {e} ({Marshal.GetPInvokeErrorMessage(e)})");
    }

    public void Dispose() => Close(_fd);

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events, Revents;
    }

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    private static unsafe partial int Bind(int fd, byte* address, uint length);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static unsafe partial int SetSockOpt(int fd, int level, int name, void* value, uint length);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    private static unsafe partial nint Recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
