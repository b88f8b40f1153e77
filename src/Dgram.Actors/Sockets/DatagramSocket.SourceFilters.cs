using System.Net;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Sockets;

public sealed partial class DatagramSocket
{
    private Membership[] _memberships = [];
    private JoinedKey[] _joined = []; // (group, ifindex) pairs the receive path checks without allocating

    /// <summary>
    /// Joins <paramref name="group"/> for <paramref name="source"/> only (seed: <c>mcastjoinsrc</c>;
    /// MCAST_JOIN_SOURCE_GROUP with <c>group_source_req</c>, both families). Call again to add sources.
    /// </summary>
    public void JoinSourceGroup(IPAddress group, IPAddress source, string? interfaceName = null) =>
        ChangeMembership(nameof(JoinSourceGroup), Const.MCAST_JOIN_SOURCE_GROUP, group, RequireSource(nameof(JoinSourceGroup), source), interfaceName);

    /// <summary>Drops one source of a source-specific membership; the last one drops the membership (seed: <c>mcastleavesrc</c>).</summary>
    public void LeaveSourceGroup(IPAddress group, IPAddress source, string? interfaceName = null) =>
        ChangeMembership(nameof(LeaveSourceGroup), Const.MCAST_LEAVE_SOURCE_GROUP, group, RequireSource(nameof(LeaveSourceGroup), source), interfaceName);

    /// <summary>Excludes one source from an any-source membership (seed: <c>mcastblocksrc</c>; MCAST_BLOCK_SOURCE).</summary>
    public void BlockSource(IPAddress group, IPAddress source, string? interfaceName = null) =>
        ChangeMembership(nameof(BlockSource), Const.MCAST_BLOCK_SOURCE, group, RequireSource(nameof(BlockSource), source), interfaceName);

    /// <summary>Re-admits a blocked source (seed: <c>mcastunblocksrc</c>; MCAST_UNBLOCK_SOURCE).</summary>
    public void UnblockSource(IPAddress group, IPAddress source, string? interfaceName = null) =>
        ChangeMembership(nameof(UnblockSource), Const.MCAST_UNBLOCK_SOURCE, group, RequireSource(nameof(UnblockSource), source), interfaceName);

    /// <summary>
    /// The memberships this socket made, with their filter mode and sources: what a supervisor replays
    /// after a restart. A snapshot; the kernel's /proc tables remain the truth.
    /// </summary>
    public IReadOnlyList<Membership> GetMemberships() => Volatile.Read(ref _memberships);

    /// <summary>
    /// Leaves <paramref name="group"/> by a raw interface index, which may belong to an interface that no
    /// longer exists: a deleted interface leaves a stale membership in the socket that still counts
    /// against igmp_max_memberships. Returns 0 or the errno.
    /// </summary>
    internal int TryLeaveByIndex(IPAddress group, int interfaceIndex)
    {
        Span<byte> req = stackalloc byte[Const.GroupReqSize];
        req.Clear();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(req, (uint)interfaceIndex);
        SockAddr.Write(req.Slice(8, Const.SockAddrStorage), group, 0);
        lock (_optionLock)
        {
            int errno = TrySetOption(nameof(TryLeaveByIndex), $"{group}, #{interfaceIndex}", IpLevel, Const.MCAST_LEAVE_GROUP, req);
            if (errno == 0) RecordMembership(Const.MCAST_LEAVE_GROUP, group, null, interfaceIndex, null);
            return errno;
        }
    }

    private static IPAddress RequireSource(string op, IPAddress? source) =>
        source ?? throw new DatagramSocketException(op, DatagramSocketError.InvalidArgument, 0, "null", "the source is null");

    /// <summary>
    /// Mirrors a successful kernel call in the membership records (called under the option lock).
    /// Addresses compare by bytes (an IPv6 scope id is the interface, already in the index); index 0
    /// ("kernel's choice") matches the group's record on any interface, since the kernel stores the
    /// index it resolved.
    /// </summary>
    private void RecordMembership(int option, IPAddress group, IPAddress? source, int index, string? name)
    {
        var list = new List<Membership>(_memberships);
        int at = IndexOfMembership(list, group, index);
        Membership? current = at >= 0 ? list[at] : null;
        switch (option)
        {
            case Const.MCAST_JOIN_GROUP:
                list.Add(new Membership(group, index, name, FilterMode.Exclude, []));
                break;
            case Const.MCAST_LEAVE_GROUP:
                if (current is not null) list.RemoveAt(at);
                break;
            case Const.MCAST_JOIN_SOURCE_GROUP when current is null:
                list.Add(new Membership(group, index, name, FilterMode.Include, [source!]));
                break;
            case Const.MCAST_JOIN_SOURCE_GROUP:
                // A source join on an any-source membership with no blocked source switches the kernel's
                // filter to INCLUDE {source}.
                list[at] = current.Mode == FilterMode.Exclude && current.Sources.Count == 0
                    ? current with { Mode = FilterMode.Include, Sources = [source!] }
                    : current with { Sources = [.. current.Sources, source!] };
                break;
            case Const.MCAST_BLOCK_SOURCE when current is not null:
                list[at] = current with { Sources = [.. current.Sources, source!] };
                break;
            case Const.MCAST_LEAVE_SOURCE_GROUP or Const.MCAST_UNBLOCK_SOURCE when current is not null:
                var rest = current.Sources.Where(s => !SameAddress(s, source!)).ToArray();
                if (rest.Length == 0 && current.Mode == FilterMode.Include) list.RemoveAt(at);
                else list[at] = current with { Sources = rest };
                break;
        }
        Volatile.Write(ref _memberships, list.ToArray());
        Volatile.Write(ref _joined, list.Select(m => new JoinedKey(m.Group, m.InterfaceIndex)).ToArray());
    }

    /// <summary>The record of <paramref name="group"/> on interface <paramref name="index"/>; index 0 on either side matches any interface.</summary>
    private static int IndexOfMembership(IReadOnlyList<Membership> list, IPAddress group, int index)
    {
        int loose = -1;
        for (int i = 0; i < list.Count; i++)
        {
            if (!SameAddress(list[i].Group, group)) continue;
            if (list[i].InterfaceIndex == index) return i;
            if (loose < 0 && (index == 0 || list[i].InterfaceIndex == 0)) loose = i;
        }
        return loose;
    }

    private static bool SameAddress(IPAddress a, IPAddress b)
    {
        Span<byte> x = stackalloc byte[16], y = stackalloc byte[16];
        return a.TryWriteBytes(x, out int n) && b.TryWriteBytes(y, out int m) && x[..n].SequenceEqual(y[..m]);
    }

    /// <summary>True when a datagram for <paramref name="destination"/> arriving on <paramref name="ifindex"/> matches a membership's interface.</summary>
    private bool ArrivedOnJoinedInterface(ReadOnlySpan<byte> destination, int ifindex)
    {
        foreach (ref readonly JoinedKey key in Volatile.Read(ref _joined).AsSpan())
        {
            if ((key.InterfaceIndex == 0 || key.InterfaceIndex == ifindex) && key.Matches(destination)) return true;
        }
        return false;
    }

    private readonly struct JoinedKey
    {
        private readonly Address16 _group;
        private readonly int _length;

        public JoinedKey(IPAddress group, int interfaceIndex)
        {
            group.TryWriteBytes(_group, out _length);
            InterfaceIndex = interfaceIndex;
        }

        public int InterfaceIndex { get; }

        public bool Matches(ReadOnlySpan<byte> destination) =>
            destination.Length == _length && destination.SequenceEqual(((ReadOnlySpan<byte>)_group)[.._length]);
    }
}
