using System.Net;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Supervision;

/// <summary>
/// The desired state of a socket: every option and membership the user asked for. It outlives socket
/// incarnations; each new incarnation replays it. Only the current incarnation writes it (one at a time,
/// from its actor thread); the lock makes reads from elsewhere safe.
/// </summary>
internal sealed class SocketLedger
{
    private readonly object _lock = new();
    private readonly List<Entry> _memberships = [];

    public bool? Loop { get; private set; }
    public int? Ttl { get; private set; }
    public int? UnicastTtl { get; private set; }
    public bool MulticastInterfaceSet { get; private set; }
    public string? MulticastInterface { get; private set; }
    public bool? Broadcast { get; private set; }
    public int? ReceiveBufferSize { get; private set; }
    public bool Suspended { get; set; }
    /// <summary>The address the first incarnation bound when the settings asked for port 0: later incarnations bind it again.</summary>
    public EndPoint? BoundEndPoint { get; set; }

    public static SocketLedger From(SocketSettings settings)
    {
        var ledger = new SocketLedger
        {
            Loop = settings.MulticastLoop,
            Ttl = settings.MulticastTtl,
            UnicastTtl = settings.UnicastTtl,
            MulticastInterfaceSet = settings.MulticastInterface is not null,
            MulticastInterface = settings.MulticastInterface,
            ReceiveBufferSize = settings.ReceiveBufferSize,
        };
        foreach (GroupSettings g in settings.Groups)
        {
            bool ssm = g.Sources is { Count: > 0 };
            ledger._memberships.Add(new Entry(g.Group, g.InterfaceName, ssm ? FilterMode.Include : FilterMode.Exclude,
                [.. (ssm ? g.Sources! : g.BlockedSources ?? [])]));
        }
        return ledger;
    }

    public void RecordOption(OptionCommand command)
    {
        lock (_lock)
        {
            switch (command)
            {
                case SetMulticastLoop c: Loop = c.Enable; break;
                case SetMulticastTtl c: Ttl = c.Ttl; break;
                case SetUnicastTtl c: UnicastTtl = c.Ttl; break;
                case SetMulticastInterface c: MulticastInterfaceSet = true; MulticastInterface = c.InterfaceName; break;
                case SetBroadcast c: Broadcast = c.Enable; break;
            }
        }
    }

    /// <summary>A snapshot of the memberships, in the order they were first asked for.</summary>
    public Entry[] Memberships()
    {
        lock (_lock) return [.. _memberships];
    }

    public Entry? Find(IPAddress group, string? interfaceName)
    {
        lock (_lock) return _memberships.FirstOrDefault(e => e.Group.Equals(group) && e.InterfaceName == interfaceName);
    }

    /// <summary>Records a membership change that the kernel accepted (or that waits for its interface).</summary>
    public Entry? Record(ChangeMembership c, int activeIndex, MembershipStatus status)
    {
        lock (_lock)
        {
            Entry? e = _memberships.FirstOrDefault(m => m.Group.Equals(c.Group) && m.InterfaceName == c.InterfaceName);
            switch (c.Change)
            {
                case MembershipChange.Join:
                    e = new Entry(c.Group, c.InterfaceName, FilterMode.Exclude, []);
                    _memberships.Add(e);
                    break;
                case MembershipChange.JoinSource when e is null:
                    e = new Entry(c.Group, c.InterfaceName, FilterMode.Include, [c.Source!]);
                    _memberships.Add(e);
                    break;
                case MembershipChange.Leave:
                    if (e is not null) _memberships.Remove(e);
                    return e;
                case MembershipChange.JoinSource when e is not null && e.Mode == FilterMode.Exclude:
                case MembershipChange.BlockSource when e is not null && e.Mode == FilterMode.Include:
                    // The kernel accepts a source change of the other mode only on a membership that never had
                    // a source, and switches its filter: a plain join then a source join is INCLUDE {source}.
                    e = SwitchMode(e, c.Change == MembershipChange.JoinSource ? FilterMode.Include : FilterMode.Exclude, c.Source!);
                    break;
                case MembershipChange.JoinSource or MembershipChange.BlockSource when e is not null:
                    if (!e.Sources.Contains(c.Source!)) e.Sources.Add(c.Source!);
                    break;
                case MembershipChange.LeaveSource or MembershipChange.UnblockSource when e is not null:
                    e.Sources.Remove(c.Source!);
                    if (e.Sources.Count == 0 && e.Mode == FilterMode.Include) _memberships.Remove(e);
                    return e;
            }
            if (e is not null)
            {
                e.Status = status;
                if (status == MembershipStatus.Active) e.ActiveIndex = activeIndex;
            }
            return e;
        }
    }

    /// <summary>Replaces an entry, in its place, by one of the other filter mode holding just <paramref name="source"/>.</summary>
    private Entry SwitchMode(Entry e, FilterMode mode, IPAddress source)
    {
        var switched = new Entry(e.Group, e.InterfaceName, mode, [source]) { Status = e.Status, ActiveIndex = e.ActiveIndex };
        _memberships[_memberships.IndexOf(e)] = switched;
        return switched;
    }

    /// <summary>One wanted membership: group, interface by name, mode, sources; and where it stands in the kernel.</summary>
    internal sealed class Entry(IPAddress group, string? interfaceName, FilterMode mode, List<IPAddress> sources)
    {
        public IPAddress Group { get; } = group;
        public string? InterfaceName { get; } = interfaceName;
        public FilterMode Mode { get; } = mode;
        public List<IPAddress> Sources { get; } = sources;
        public MembershipStatus Status { get; set; } = MembershipStatus.Pending;
        /// <summary>The interface index the kernel holds the membership under (0: none yet).</summary>
        public int ActiveIndex { get; set; }

        public Membership ToMembership() => new(Group, ActiveIndex, InterfaceName, Mode, [.. Sources]);
    }
}
