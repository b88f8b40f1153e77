using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Engine;

/// <summary>What one netlink message (or one resync) changed for one interface.</summary>
internal enum LinkEvent
{
    /// <summary>An index the table did not have; its flags say whether it is up.</summary>
    Added,
    /// <summary>The interface became operational (see <see cref="LinkInfo.IsOperational"/>).</summary>
    Up,
    /// <summary>The interface stopped being operational: admin down or carrier lost.</summary>
    Down,
    /// <summary>The index is gone from this namespace (deleted, or moved to another namespace).</summary>
    Removed,
    /// <summary>Same index, new name.</summary>
    Renamed,
}

/// <summary>
/// One change: the index, the name (the new one for <see cref="LinkEvent.Renamed"/>, the last one it had for
/// <see cref="LinkEvent.Removed"/>), the old name for Renamed (else null) and ifi_flags.
/// </summary>
internal readonly record struct LinkChange(LinkEvent Kind, int Index, string Name, string? OldName, uint Flags);

/// <summary>One interface as the kernel last described it.</summary>
internal sealed record LinkInfo(int Index, string Name, uint Flags)
{
    /// <summary>Administratively up (IFF_UP).</summary>
    public bool IsUp => (Flags & Netlink.IFF_UP) != 0;

    /// <summary>
    /// Operationally up (IFF_RUNNING: RFC 2863 operstate UP or UNKNOWN), not the bare carrier bit
    /// (IFF_LOWER_UP). Measured on veth: when the peer goes down, both bits clear in the same message;
    /// when an end comes up, the kernel first sends LOWER_UP without RUNNING and RUNNING one message later,
    /// once linkwatch has set the operstate. RUNNING also clears for a dormant link (carrier but not usable,
    /// e.g. 802.1X pending), and it is what the per-socket poll this table replaces tested (SIOCGIFFLAGS).
    /// </summary>
    public bool HasCarrier => (Flags & Netlink.IFF_RUNNING) != 0;

    /// <summary>Up and with carrier: what <see cref="LinkEvent.Up"/> and <see cref="LinkEvent.Down"/> report crossing.</summary>
    public bool IsOperational => IsUp && HasCarrier;
}

/// <summary>
/// The namespace's interfaces from rtnetlink: one NETLINK_ROUTE socket subscribed to link events, a full
/// RTM_GETLINK dump at start and after every overrun. No thread and no timer: an engine thread watches
/// <see cref="Fd"/> and calls <see cref="Read"/>; any thread may look interfaces up through an immutable
/// snapshot that <see cref="Read"/> swaps.
/// </summary>
/// <remarks>
/// Dumps go through a short-lived socket of their own: a dump on the event socket would interleave with
/// events, and a second dump while one runs fails with EBUSY. Events queued after the drain that precedes
/// a dump are applied on top of it. Each RTM_NEWLINK carries the link's whole state and the last one queued
/// for a link is the newest, so the table ends where the kernel is; an event the dump already reflected may
/// report its transition once more (down and up again), never lose one.
/// </remarks>
internal sealed class LinkTable : IDisposable
{
    private const string Operation = "LinkTable";
    /// <summary>How long a dump may take before the table gives up on it.</summary>
    private static readonly TimeSpan DumpTimeout = TimeSpan.FromSeconds(2);
    /// <summary>Dumps redone when the kernel marks one interrupted (NLM_F_DUMP_INTR: links changed during it).</summary>
    private const int DumpAttempts = 3;
    /// <summary>
    /// Event queue limit asked of the kernel: a burst of ~1,500 link messages (~2.5 KiB each in the queue)
    /// before an overrun forces a resync. SO_RCVBUF caps it at net.core.rmem_max; SO_RCVBUFFORCE does not.
    /// </summary>
    private const int ReceiveBufferBytes = 4 << 20;
    /// <summary>
    /// The kernel sizes dump chunks by the reader's buffer up to 32 KiB; an event holds one link (~1.5 KiB).
    /// A message that still does not fit is counted as lost and resyncs.
    /// </summary>
    private const int MessageBufferBytes = 32 << 10;

    private readonly SafeFdHandle _fd;
    private readonly byte[] _buffer = new byte[MessageBufferBytes];
    private readonly List<NetlinkMessage> _messages = new();
    /// <summary>The table as Read maintains it; only the reading thread touches it.</summary>
    private Dictionary<int, LinkInfo> _links = new();
    private volatile Snapshot _snapshot = Snapshot.Empty;
    private uint _sequence;
    private long _resyncs;
    /// <summary>Set from the drain before a resync until the dump succeeds, so a failed dump is retried by the next Read.</summary>
    private bool _resyncPending;

    private LinkTable(int fd) => _fd = new SafeFdHandle(fd);

    /// <summary>
    /// Opens the event socket (RTMGRP_LINK, non-blocking), then fills the table with a dump; events from
    /// between the two wait in the socket for the first <see cref="Read"/>. Throws
    /// <see cref="DatagramSocketException"/> (naming the call and errno) when any step fails or the dump
    /// does not finish within 2 s.
    /// </summary>
    public static LinkTable Open()
    {
        int errno = Netlink.Open(Netlink.RTMGRP_LINK, nonBlocking: true, out int fd, out string call);
        if (errno != 0) throw new DatagramSocketException(Operation, DatagramSocketError.Kernel, errno, call, "cannot watch interface events");
        var table = new LinkTable(fd);
        try
        {
            table.SetReceiveBuffer();
            table._links = table.Dump();
            table._snapshot = new Snapshot(table._links);
            return table;
        }
        catch
        {
            table.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The descriptor an engine thread watches. Call <see cref="Read"/> on EPOLLIN and on EPOLLERR: an overrun
    /// is reported as a socket error (ENOBUFS) that Read turns into a resync.
    /// </summary>
    public int Fd => _fd.Fd;

    /// <summary>How many dumps were done because events were lost (ENOBUFS, or a message too long to read).</summary>
    public long Resyncs => Interlocked.Read(ref _resyncs);

    /// <summary>Every interface in the current snapshot.</summary>
    public IReadOnlyCollection<LinkInfo> Links => _snapshot.ByIndex.Values;

    /// <summary>The interface named <paramref name="name"/> in the current snapshot.</summary>
    public bool TryGet(string name, [NotNullWhen(true)] out LinkInfo? info) => _snapshot.ByName.TryGetValue(name, out info);

    /// <summary>The interface with index <paramref name="index"/> in the current snapshot.</summary>
    public bool TryGet(int index, [NotNullWhen(true)] out LinkInfo? info) => _snapshot.ByIndex.TryGetValue(index, out info);

    /// <summary>
    /// Reads every pending message without blocking (EAGAIN ends it), updates the table and appends what
    /// changed to <paramref name="changes"/>. On an overrun it drains the socket, dumps, and appends the
    /// differences between the table before and the dump. Called by one thread at a time; returns at once
    /// after <see cref="Dispose"/>. Messages it does not understand are skipped; it throws only when the
    /// kernel refuses a call (the socket broke or a resync dump failed; the next Read retries the dump).
    /// </summary>
    public void Read(List<LinkChange> changes)
    {
        bool added = false;
        try
        {
            _fd.DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            return;
        }
        bool changed = false;
        try
        {
            if (_resyncPending) changed |= Resync(changes);
            while (true)
            {
                int errno = Receive(out int length);
                if (errno == Errno.EAGAIN) return;
                if (errno == Errno.ENOBUFS || (errno == 0 && length > _buffer.Length))
                {
                    changed |= Resync(changes);
                    continue;
                }
                if (errno != 0) throw new DatagramSocketException(Operation, DatagramSocketError.Kernel, errno, "recv(NETLINK_ROUTE)", "cannot read interface events");
                _messages.Clear();
                Netlink.Parse(_buffer.AsSpan(0, length), _messages);
                foreach (NetlinkMessage message in _messages) changed |= Apply(message, changes);
            }
        }
        finally
        {
            if (changed) _snapshot = new Snapshot(_links);
            _fd.DangerousRelease();
        }
    }

    /// <summary>Closes the socket (after a Read in progress returns).</summary>
    public void Dispose() => _fd.Dispose();

    /// <summary>One notification applied to the table; true when the table changed.</summary>
    private bool Apply(NetlinkMessage message, List<LinkChange> changes)
    {
        _links.TryGetValue(message.Index, out LinkInfo? before);
        LinkInfo? after;
        switch (message.Kind)
        {
            case NetlinkMessageKind.NewLink:
                string? name = message.Name ?? before?.Name;
                if (name is null) return false; // nameless and unknown: nothing to key it by
                after = new LinkInfo(message.Index, name, message.Flags);
                if (after == before) return false;
                _links[message.Index] = after;
                break;
            case NetlinkMessageKind.DelLink:
                if (before is null) return false;
                _links.Remove(message.Index);
                after = null;
                break;
            default:
                return false;
        }
        Compare(before, after, changes);
        return true;
    }

    /// <summary>The events that take one interface from <paramref name="before"/> to <paramref name="after"/> (null: absent).</summary>
    private static void Compare(LinkInfo? before, LinkInfo? after, List<LinkChange> changes)
    {
        if (before is null)
        {
            if (after is not null) changes.Add(new LinkChange(LinkEvent.Added, after.Index, after.Name, null, after.Flags));
            return;
        }
        if (after is null)
        {
            changes.Add(new LinkChange(LinkEvent.Removed, before.Index, before.Name, null, before.Flags));
            return;
        }
        if (after.Name != before.Name) changes.Add(new LinkChange(LinkEvent.Renamed, after.Index, after.Name, before.Name, after.Flags));
        if (after.IsOperational != before.IsOperational)
        {
            changes.Add(new LinkChange(after.IsOperational ? LinkEvent.Up : LinkEvent.Down, after.Index, after.Name, null, after.Flags));
        }
    }

    /// <summary>
    /// Events were lost. The kernel drops every notification while the queue stays congested, so first
    /// drain it (what it holds is older than the dump), then dump, then report the differences.
    /// </summary>
    private bool Resync(List<LinkChange> changes)
    {
        _resyncPending = true;
        int errno;
        while ((errno = Receive(out _)) is 0 or Errno.ENOBUFS)
        {
        }
        if (errno != Errno.EAGAIN) throw new DatagramSocketException(Operation, DatagramSocketError.Kernel, errno, "recv(NETLINK_ROUTE)", "cannot drain interface events before a resync");
        Dictionary<int, LinkInfo> fresh = Dump();
        Dictionary<int, LinkInfo> old = _links;
        _links = fresh;
        _resyncPending = false;
        Interlocked.Increment(ref _resyncs);
        foreach ((int index, LinkInfo before) in old)
        {
            if (!fresh.ContainsKey(index)) Compare(before, null, changes);
        }
        foreach ((int index, LinkInfo after) in fresh) Compare(old.GetValueOrDefault(index), after, changes);
        return true;
    }

    /// <summary>
    /// Every link in the namespace, from an RTM_GETLINK dump on a socket of its own. Redone when the kernel
    /// marks it interrupted (links were added or removed while it ran, so it may have skipped one).
    /// </summary>
    private Dictionary<int, LinkInfo> Dump()
    {
        for (int attempt = 1; ; attempt++)
        {
            var links = new Dictionary<int, LinkInfo>();
            if (!DumpOnce(links) || attempt == DumpAttempts) return links;
        }
    }

    /// <summary>One dump into <paramref name="links"/>; true when the kernel marked it interrupted.</summary>
    private unsafe bool DumpOnce(Dictionary<int, LinkInfo> links)
    {
        const string arguments = "RTM_GETLINK dump";
        int errno = Netlink.Open(0, nonBlocking: true, out int fd, out string call);
        if (errno != 0) throw new DatagramSocketException(Operation, DatagramSocketError.Kernel, errno, call, "cannot dump interfaces");
        try
        {
            uint sequence = ++_sequence;
            int requestLength = Netlink.WriteDumpRequest(_buffer, sequence);
            fixed (byte* request = _buffer)
            {
                if (Libc.SendTo(fd, request, (nuint)requestLength, 0, null, 0) < 0)
                {
                    throw new DatagramSocketException(Operation, DatagramSocketError.Kernel, Marshal.GetLastPInvokeError(), arguments, "the request was not sent");
                }
            }
            long deadline = Environment.TickCount64 + (long)DumpTimeout.TotalMilliseconds;
            bool interrupted = false;
            while (true)
            {
                errno = Receive(fd, out int length);
                if (errno == Errno.EAGAIN)
                {
                    long left = deadline - Environment.TickCount64;
                    if (left <= 0) throw new DatagramSocketException(Operation, DatagramSocketError.Kernel, Errno.ETIMEDOUT, arguments, $"no NLMSG_DONE within {DumpTimeout.TotalSeconds:0} s");
                    var poll = new PollFd { Fd = fd, Events = Const.POLLIN };
                    Libc.Poll(&poll, 1, (int)left);
                    continue;
                }
                if (errno == 0 && length > _buffer.Length) errno = Errno.EMSGSIZE;
                if (errno != 0) throw new DatagramSocketException(Operation, DatagramSocketError.Kernel, errno, arguments, "cannot read the dump");
                _messages.Clear();
                Netlink.Parse(_buffer.AsSpan(0, length), _messages);
                foreach (NetlinkMessage m in _messages)
                {
                    if (m.Sequence != sequence) continue;
                    interrupted |= m.Interrupted;
                    switch (m.Kind)
                    {
                        case NetlinkMessageKind.NewLink when m.Name is not null:
                            links[m.Index] = new LinkInfo(m.Index, m.Name, m.Flags);
                            break;
                        case NetlinkMessageKind.Error when m.Errno != 0:
                        case NetlinkMessageKind.Done when m.Errno != 0:
                            throw new DatagramSocketException(Operation, DatagramSocketError.Kernel, m.Errno, arguments, "the kernel refused the dump");
                        case NetlinkMessageKind.Done:
                            return interrupted;
                    }
                }
            }
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    /// <summary>Reads one datagram from the event socket; see <see cref="Receive(int, out int)"/>.</summary>
    private int Receive(out int length) => Receive(_fd.Fd, out length);

    /// <summary>
    /// One non-blocking recv into the buffer: 0 with the datagram's full length (MSG_TRUNC: larger than the
    /// buffer when it did not fit), or the errno, EINTR retried.
    /// </summary>
    private unsafe int Receive(int fd, out int length)
    {
        fixed (byte* buffer = _buffer)
        {
            while (true)
            {
                nint n = Libc.Recv(fd, buffer, (nuint)_buffer.Length, Const.MSG_DONTWAIT | Const.MSG_TRUNC);
                if (n >= 0)
                {
                    length = (int)Math.Min(n, int.MaxValue);
                    return 0;
                }
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.EINTR) continue;
                length = 0;
                return errno;
            }
        }
    }

    /// <summary>
    /// A generous event queue, so bursts (a bond or a namespace going away) are read rather than resynced.
    /// SO_RCVBUFFORCE needs CAP_NET_ADMIN; SO_RCVBUF stops at net.core.rmem_max. A smaller queue is no
    /// failure: an overrun costs a resync, not correctness.
    /// </summary>
    private unsafe void SetReceiveBuffer()
    {
        int bytes = ReceiveBufferBytes;
        if (Libc.SetSockOpt(_fd.Fd, Const.SOL_SOCKET, Netlink.SO_RCVBUFFORCE, &bytes, sizeof(int)) != 0)
        {
            Libc.SetSockOpt(_fd.Fd, Const.SOL_SOCKET, Const.SO_RCVBUF, &bytes, sizeof(int));
        }
    }

    /// <summary>An immutable view for lock-free lookups; Read publishes a new one after changing the table.</summary>
    private sealed class Snapshot
    {
        public static readonly Snapshot Empty = new(new Dictionary<int, LinkInfo>());

        public Snapshot(Dictionary<int, LinkInfo> links)
        {
            ByIndex = new Dictionary<int, LinkInfo>(links);
            ByName = new Dictionary<string, LinkInfo>(links.Count, StringComparer.Ordinal);
            // Names are unique in the kernel at any instant; while events are replayed after a resync two
            // indexes may briefly hold one name, and the later entry wins until the next event settles it.
            foreach (LinkInfo link in links.Values) ByName[link.Name] = link;
        }

        public Dictionary<int, LinkInfo> ByIndex { get; }
        public Dictionary<string, LinkInfo> ByName { get; }
    }
}
