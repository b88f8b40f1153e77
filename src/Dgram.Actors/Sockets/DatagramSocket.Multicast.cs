using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Sockets;

public sealed partial class DatagramSocket
{
    private string? _multicastInterfaceName; // IPv4 only: the kernel cannot report an ifindex set through ip_mreqn
    private IPAddress? _boundAddress;

    /// <summary>Reads IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP (seed: <c>mcastloop()</c>).</summary>
    public bool GetMulticastLoop()
    {
        const string op = nameof(GetMulticastLoop);
        RequireIp(op);
        return GetInt(op, IpLevel, IsIPv6 ? Const.IPV6_MULTICAST_LOOP : Const.IP_MULTICAST_LOOP, null) != 0;
    }

    /// <summary>Sets IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP; returns the previous value (seed: <c>mcastloop(enable)</c>).</summary>
    public bool SetMulticastLoop(bool enable)
    {
        const string op = nameof(SetMulticastLoop);
        RequireIp(op);
        int option = IsIPv6 ? Const.IPV6_MULTICAST_LOOP : Const.IP_MULTICAST_LOOP;
        string args = enable.ToString();
        lock (_optionLock)
        {
            bool previous = GetInt(op, IpLevel, option, args) != 0;
            SetInt(op, IpLevel, option, enable ? 1 : 0, args);
            return previous;
        }
    }

    /// <summary>Reads IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS (seed: <c>mcastttl()</c>).</summary>
    public int GetMulticastTtl()
    {
        const string op = nameof(GetMulticastTtl);
        RequireIp(op);
        return GetInt(op, IpLevel, IsIPv6 ? Const.IPV6_MULTICAST_HOPS : Const.IP_MULTICAST_TTL, null);
    }

    /// <summary>
    /// Sets IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS (-1–255 for both; -1 = the kernel default, 1);
    /// returns the previous value (seed: <c>mcastttl(ttl)</c>). Out of range: nothing changes.
    /// </summary>
    public int SetMulticastTtl(int ttl)
    {
        const string op = nameof(SetMulticastTtl);
        RequireIp(op);
        RequireRange(op, ttl, -1, 255); // the kernel takes -1 (default) for IPv4 too
        int option = IsIPv6 ? Const.IPV6_MULTICAST_HOPS : Const.IP_MULTICAST_TTL;
        string args = ttl.ToString();
        lock (_optionLock)
        {
            int previous = GetInt(op, IpLevel, option, args);
            SetInt(op, IpLevel, option, ttl, args);
            return previous;
        }
    }

    /// <summary>
    /// The outgoing multicast interface's name, or null when unset (seed: <c>mcastif()</c>). IPv6 reads
    /// IPV6_MULTICAST_IF back from the kernel. IPv4 returns the name this socket recorded when it set
    /// the option: the kernel keeps the index set through <c>ip_mreqn</c> but getsockopt returns only an address.
    /// </summary>
    public string? GetMulticastInterface()
    {
        const string op = nameof(GetMulticastInterface);
        RequireIp(op);
        return ReadMulticastInterface(op, null);
    }

    private string? ReadMulticastInterface(string op, string? args)
    {
        if (!IsIPv6)
        {
            _ = Enter(op, args); // a closed socket fails here as everywhere
            Exit();
            return Volatile.Read(ref _multicastInterfaceName);
        }
        int index = GetInt(op, Const.IPPROTO_IPV6, Const.IPV6_MULTICAST_IF, args);
        return index == 0 ? null : NetworkInterfaceNames.GetName(index) ?? "#" + index;
    }

    /// <summary>
    /// Sets the outgoing multicast interface by name; null restores the kernel's default (routing).
    /// Returns the previous name (seed: <c>mcastif(ifname)</c>).
    /// </summary>
    public string? SetMulticastInterface(string? interfaceName)
    {
        const string op = nameof(SetMulticastInterface);
        RequireIp(op);
        int index = interfaceName is null ? 0 : NetworkInterfaceNames.GetIndex(interfaceName, op);
        return SetMulticastInterfaceIndex(op, index, interfaceName, interfaceName ?? "null");
    }

    /// <summary>Sets the outgoing multicast interface by index (0 restores the default); returns the previous name.</summary>
    public string? SetMulticastInterface(int interfaceIndex)
    {
        const string op = nameof(SetMulticastInterface);
        RequireIp(op);
        if (interfaceIndex < 0) throw new DatagramSocketException(op, DatagramSocketError.OutOfRange, 0, interfaceIndex.ToString(), "an interface index is >= 0");
        string? name = null;
        if (interfaceIndex != 0)
        {
            int errno = NetworkInterfaceNames.TryGetName(interfaceIndex, out name);
            if (errno == Errno.ENODEV)
            {
                throw new DatagramSocketException(op, DatagramSocketError.UnknownInterface, Errno.ENXIO, interfaceIndex.ToString(), "no interface has this index");
            }
            if (errno != 0) throw NetworkInterfaceNames.LookupFailed(op, interfaceIndex.ToString(), errno);
        }
        return SetMulticastInterfaceIndex(op, interfaceIndex, name, interfaceIndex.ToString());
    }

    private string? SetMulticastInterfaceIndex(string op, int index, string? name, string args)
    {
        lock (_optionLock)
        {
            string? previous = ReadMulticastInterface(op, args);
            if (IsIPv6)
            {
                SetInt(op, Const.IPPROTO_IPV6, Const.IPV6_MULTICAST_IF, index, args);
            }
            else
            {
                // struct ip_mreqn { in_addr multiaddr; in_addr address; int ifindex; }: by index, address 0.
                Span<byte> mreqn = stackalloc byte[12];
                mreqn.Clear();
                BinaryPrimitives.WriteInt32LittleEndian(mreqn[8..], index);
                int errno = TrySetOption(op, args, Const.IPPROTO_IP, Const.IP_MULTICAST_IF, mreqn);
                if (errno != 0) throw new DatagramSocketException(op, DatagramSocketError.Kernel, errno, args);
                Volatile.Write(ref _multicastInterfaceName, name);
            }
            return previous;
        }
    }

    /// <summary>Reads SO_BROADCAST (seed: <c>broadcast()</c>). IPv4 only.</summary>
    public bool GetBroadcast()
    {
        const string op = nameof(GetBroadcast);
        RequireIPv4(op);
        return GetInt(op, Const.SOL_SOCKET, Const.SO_BROADCAST, null) != 0;
    }

    /// <summary>Sets SO_BROADCAST; returns the previous value (seed: <c>broadcast(enable)</c>). IPv4 only: IPv6 has no broadcast.</summary>
    public bool SetBroadcast(bool enable)
    {
        const string op = nameof(SetBroadcast);
        RequireIPv4(op);
        string args = enable.ToString();
        lock (_optionLock)
        {
            bool previous = GetInt(op, Const.SOL_SOCKET, Const.SO_BROADCAST, args) != 0;
            SetInt(op, Const.SOL_SOCKET, Const.SO_BROADCAST, enable ? 1 : 0, args);
            return previous;
        }
    }

    private void RequireIPv4(string op)
    {
        if (AddressFamily != AddressFamily.InterNetwork)
        {
            throw new DatagramSocketException(op, DatagramSocketError.NotSupportedForFamily, 0, null,
                $"broadcast exists only for IPv4; this socket is {AddressFamily}");
        }
    }

    /// <summary>Joins <paramref name="group"/> for any source (seed: <c>mcastjoin(grp, ifname)</c>; MCAST_JOIN_GROUP).</summary>
    /// <param name="group">An IPv4 or IPv6 multicast address of this socket's family. A link-scoped IPv6 group may carry its interface as scope id.</param>
    /// <param name="interfaceName">The interface to join on; null lets the kernel choose by route.</param>
    public void JoinGroup(IPAddress group, string? interfaceName = null) =>
        ChangeMembership(nameof(JoinGroup), Const.MCAST_JOIN_GROUP, group, null, interfaceName);

    /// <summary>Leaves an any-source or source-specific membership (seed: <c>mcastleave(grp, ifname)</c>; MCAST_LEAVE_GROUP).</summary>
    public void LeaveGroup(IPAddress group, string? interfaceName = null) =>
        ChangeMembership(nameof(LeaveGroup), Const.MCAST_LEAVE_GROUP, group, null, interfaceName);

    /// <summary>
    /// One membership change through the protocol-independent MCAST_* options with <c>group_req</c> /
    /// <c>group_source_req</c>, which name the interface by index for both families (IPv4's
    /// <c>ip_mreq_source</c> names it by address: no join on an interface without one, a wrong pick when two share one).
    /// </summary>
    private void ChangeMembership(string op, int option, IPAddress group, IPAddress? source, string? interfaceName)
    {
        RequireIp(op);
        string args = source is null ? $"{group}, {interfaceName ?? "null"}" : $"{group}, {source}, {interfaceName ?? "null"}";
        ValidateGroup(op, group, args);
        if (source is not null) ValidateSource(op, group, source, args);
        int index = interfaceName is not null ? NetworkInterfaceNames.GetIndex(interfaceName, op) : (int)(IsIPv6 ? group.ScopeId : 0);

        Span<byte> req = stackalloc byte[Const.GroupSourceReqSize];
        req.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(req, (uint)index);
        SockAddr.Write(req.Slice(8, Const.SockAddrStorage), group, 0);
        int length = Const.GroupReqSize;
        if (source is not null)
        {
            SockAddr.Write(req.Slice(8 + Const.SockAddrStorage, Const.SockAddrStorage), source, 0);
            length = Const.GroupSourceReqSize;
        }
        lock (_optionLock)
        {
            int errno = TrySetOption(op, args, IpLevel, option, req[..length]);
            if (errno != 0)
            {
                throw new DatagramSocketException(op, DatagramSocketError.Kernel, errno, args, LimitHint(option, errno, group, index));
            }
            RecordMembership(option, group, source, index, interfaceName ?? NetworkInterfaceNames.GetName(index));
        }
        if (option is Const.MCAST_JOIN_GROUP or Const.MCAST_JOIN_SOURCE_GROUP)
        {
            WarnIfBoundToUnicast(group);
        }
    }

    private void ValidateGroup(string op, IPAddress? group, string args)
    {
        if (group is null)
        {
            throw new DatagramSocketException(op, DatagramSocketError.InvalidArgument, 0, args, "the group is null");
        }
        if (group.AddressFamily != AddressFamily)
        {
            throw new DatagramSocketException(op, DatagramSocketError.FamilyMismatch, 0, args,
                $"group {group} is {group.AddressFamily}; this socket is {AddressFamily}");
        }
        if (!IsMulticast(group))
        {
            throw new DatagramSocketException(op, DatagramSocketError.NotMulticast, 0, args, $"{group} is not a multicast address");
        }
    }

    private void ValidateSource(string op, IPAddress group, IPAddress source, string args)
    {
        if (source.AddressFamily != AddressFamily)
        {
            throw new DatagramSocketException(op, DatagramSocketError.FamilyMismatch, 0, args,
                $"source {source} is {source.AddressFamily}; this socket is {AddressFamily}");
        }
        if (source.Equals(group) || NotUnicastSource(source) is not null)
        {
            throw new DatagramSocketException(op, DatagramSocketError.InvalidArgument, 0, args, $"source {source} must be a unicast address");
        }
    }

    /// <summary>Why <paramref name="source"/> cannot be a source filter entry (a multicast, unspecified or broadcast address), or null.</summary>
    internal static string? NotUnicastSource(IPAddress source) =>
        IsMulticast(source) ? $"{source} is a multicast address"
        : source.Equals(IPAddress.Any) || source.Equals(IPAddress.IPv6Any) ? $"{source} is the unspecified address"
        : source.Equals(IPAddress.Broadcast) ? $"{source} is the broadcast address"
        : null;

    /// <summary>True for 224.0.0.0/4 and ff00::/8.</summary>
    public static bool IsMulticast(IPAddress address)
    {
        Span<byte> b = stackalloc byte[16];
        address.TryWriteBytes(b, out int n);
        return n == 4 ? (b[0] & 0xF0) == 0xE0 : n == 16 && b[0] == 0xFF;
    }

    /// <summary>Names the kernel knob behind a limit errno, so the error says what to raise (called under the option lock).</summary>
    private string? LimitHint(int option, int errno, IPAddress group, int index) => errno switch
    {
        Errno.ENOBUFS or Errno.ENOMEM => LimitReached(option, errno, group, index),
        Errno.EADDRINUSE when option == Const.MCAST_JOIN_GROUP => "already a member of this group on this interface",
        Errno.EADDRNOTAVAIL when option is Const.MCAST_LEAVE_GROUP or Const.MCAST_LEAVE_SOURCE_GROUP or Const.MCAST_UNBLOCK_SOURCE
            => "no such membership or source on this socket",
        Errno.EINVAL when option is Const.MCAST_BLOCK_SOURCE or Const.MCAST_UNBLOCK_SOURCE or Const.MCAST_LEAVE_SOURCE_GROUP
            => "no membership for this group on this interface (join first), or a filter mode that does not allow this change",
        Errno.ENODEV => "no usable interface (name one, or the kernel found no route for the group)",
        _ => null,
    };

    /// <summary>
    /// Which limit an ENOBUFS/ENOMEM hit. The kernel answers ENOBUFS both for a count limit and for socket
    /// option memory running out (measured: net.core.optmem_max = 64 failed the first source), so count
    /// this socket's memberships and the group's sources against the live limits; if neither is full,
    /// it was option memory.
    /// </summary>
    private string LimitReached(int option, int errno, IPAddress group, int index)
    {
        if (errno == Errno.ENOBUFS)
        {
            Membership[] memberships = _memberships;
            int at = IndexOfMembership(memberships, group, index);
            bool newGroup = option == Const.MCAST_JOIN_GROUP || (option == Const.MCAST_JOIN_SOURCE_GROUP && at < 0);
            if (newGroup && !IsIPv6)
            {
                KernelLimit groups = KernelLimits.IPv4GroupsPerSocket();
                if (memberships.Length >= groups.Value) return $"per-socket group limit reached: {groups.Describe(" = ")}, {memberships.Length} groups joined";
            }
            if (at >= 0 && option is Const.MCAST_JOIN_SOURCE_GROUP or Const.MCAST_BLOCK_SOURCE)
            {
                KernelLimit sources = KernelLimits.SourcesPerGroup(AddressFamily);
                int count = memberships[at].Sources.Count;
                if (count >= sources.Value) return $"per-group source limit reached: {sources.Describe(" = ")}, {count} sources on {group}";
            }
        }
        return $"socket option memory ran out: {KernelLimits.OptionMemory().Describe(" = ")}";
    }

    private void WarnIfBoundToUnicast(IPAddress group)
    {
        IPAddress? bound = _boundAddress;
        if (bound is not null && !bound.Equals(IPAddress.Any) && !bound.Equals(IPAddress.IPv6Any) && !IsMulticast(bound))
        {
            SocketsLog.JoinOnUnicastBind(_logger, bound.ToString(), group.ToString());
        }
    }
}
