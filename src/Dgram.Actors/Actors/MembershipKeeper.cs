using System.Net;
using Akka.Event;
using Dgram.Actors.Engine;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;
using Dgram.Actors.Supervision;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Actors;

/// <summary>
/// An incarnation's memberships and multicast interface against the interfaces that exist: replays the ledger
/// into a new socket, applies membership commands, and follows interface changes.
/// </summary>
/// <remarks>
/// <para>Interfaces are named; the kernel keeps memberships by index. A carrier flap or an administrative down/up
/// keeps the index and, measured, the kernel keeps every membership and source filter through it: nothing is
/// left or rejoined (leaving and rejoining a source filter across a flap left the kernel's include count at 2).
/// Only an index that no longer carries the name (deleted, moved away, renamed) drops the membership, by that
/// old index; an interface of that name that exists and is up again (a new index) is joined at once.</para>
/// <para>A rename is treated as the name going away: memberships follow names, as the configuration does.</para>
/// </remarks>
internal sealed class MembershipKeeper(DatagramSocket socket, SocketSettings settings, SocketShared shared, SocketLedger ledger, LinkTable links,
    ILoggingAdapter log, bool firstStart)
{
    // The interfaces this socket's memberships have named, for Down/Up events; those reported gone, for Recreated.
    private readonly HashSet<string> _named = new(StringComparer.Ordinal), _gone = new(StringComparer.Ordinal);
    private int _multicastInterfaceIndex;

    /// <summary>Re-applies every recorded membership to a new socket, in order; <paramref name="step"/> names the one being applied.</summary>
    public void Replay(int incarnation, Action<string> step)
    {
        if (ledger.MulticastInterfaceSet)
        {
            step(nameof(SocketSettings.MulticastInterface));
            ApplyMulticastInterface();
        }
        foreach (SocketLedger.Entry entry in ledger.Memberships())
        {
            step(GroupSetting(entry));
            entry.ActiveIndex = 0;
            entry.Status = MembershipStatus.Pending;
            TryJoin(entry, countRestored: incarnation > 1);
        }
    }

    /// <summary>The setting a membership came from (<c>Groups[3]</c>), or the group itself for one added by a command.</summary>
    private string GroupSetting(SocketLedger.Entry entry)
    {
        for (int i = 0; i < settings.Groups.Count; i++)
        {
            if (settings.Groups[i].Group.Equals(entry.Group) && settings.Groups[i].InterfaceName == entry.InterfaceName) return $"{nameof(SocketSettings.Groups)}[{i}]";
        }
        return $"{nameof(SocketSettings.Groups)}({entry.Group})";
    }

    private void ApplyMulticastInterface()
    {
        string? name = ledger.MulticastInterface;
        if (name is not null && !Resolve(name, out _, out _))
        {
            log.Warning("Socket {0}: multicast interface {1} is absent; using the default until it appears", shared.Name, name);
            return;
        }
        SetMulticastInterface(name);
    }

    /// <summary>IP(V6)_MULTICAST_IF by name; returns the interface in force before.</summary>
    public string? SetMulticastInterface(string? name)
    {
        string? previous = socket.SetMulticastInterface(name);
        _multicastInterfaceIndex = name is not null && Resolve(name, out int index, out _) ? index : 0;
        return previous;
    }

    /// <summary>
    /// An interface's index and whether it is up: from the link table, or, when the table has not seen it yet
    /// (its netlink event still on the way), from the kernel directly, so no decision rests on a stale miss.
    /// False only when the kernel says there is no such interface; a malformed name resolves (index 0), so the
    /// socket call that follows refuses it with its own error.
    /// </summary>
    private bool Resolve(string name, out int index, out bool up)
    {
        if (links.TryGet(name, out LinkInfo? info))
        {
            index = info.Index;
            up = info.IsUp;
            return true;
        }
        int errno = NetworkInterfaceNames.TryGetIndex(name, out index);
        up = errno != 0 || socket.InterfaceIsUp(name) == true;
        return errno != Errno.ENODEV;
    }

    /// <summary>Joins a recorded membership with its sources; leaves it pending while its interface is absent or down.</summary>
    private bool TryJoin(SocketLedger.Entry entry, bool countRestored)
    {
        int index = 0;
        if (entry.InterfaceName is string name)
        {
            if (!Resolve(name, out index, out bool up))
            {
                if (settings.AbsentInterface == AbsentInterfacePolicy.Fail && firstStart)
                {
                    throw new DatagramSocketException("JoinGroup", DatagramSocketError.UnknownInterface, Errno.ENODEV,
                        $"{entry.Group}, {name}", "the interface is absent and AbsentInterface is Fail");
                }
                log.Warning("Socket {0}: interface {1} is absent; membership {2} is pending", shared.Name, name, entry.Group);
                shared.Publish(new MembershipPending(shared.Name, entry.ToMembership(), "interface absent"));
                return false;
            }
            Track(name);
            if (!up)
            {
                // Joined when it comes up (a join made while down loses IPv6 source filters).
                shared.Publish(new MembershipPending(shared.Name, entry.ToMembership(), "interface down"));
                return false;
            }
        }
        try
        {
            if (entry.Mode == FilterMode.Include)
            {
                foreach (IPAddress source in entry.Sources) Rejoin(MembershipChange.JoinSource, entry.Group, source, entry.InterfaceName);
            }
            else
            {
                Rejoin(MembershipChange.Join, entry.Group, null, entry.InterfaceName);
                foreach (IPAddress source in entry.Sources) Rejoin(MembershipChange.BlockSource, entry.Group, source, entry.InterfaceName);
            }
        }
        catch (DatagramSocketException)
        {
            // Half a membership in the kernel would stay there, unrecorded: take it out, so the entry is cleanly pending.
            socket.TryLeaveByIndex(entry.Group, index);
            throw;
        }
        entry.ActiveIndex = index;
        entry.Status = MembershipStatus.Active;
        if (countRestored)
        {
            shared.CountRestored();
            shared.Publish(new MembershipRestored(shared.Name, entry.ToMembership()));
        }
        return true;
    }

    /// <summary>The one mapping from a membership change to the socket call that makes it.</summary>
    private void Apply(MembershipChange change, IPAddress group, IPAddress? source, string? interfaceName)
    {
        switch (change)
        {
            case MembershipChange.Join: socket.JoinGroup(group, interfaceName); break;
            case MembershipChange.Leave: socket.LeaveGroup(group, interfaceName); break;
            case MembershipChange.JoinSource: socket.JoinSourceGroup(group, source!, interfaceName); break;
            case MembershipChange.LeaveSource: socket.LeaveSourceGroup(group, source!, interfaceName); break;
            case MembershipChange.BlockSource: socket.BlockSource(group, source!, interfaceName); break;
            case MembershipChange.UnblockSource: socket.UnblockSource(group, source!, interfaceName); break;
        }
    }

    /// <summary>A join of a recorded membership: one the kernel already has (EADDRINUSE) is where we want it.</summary>
    private void Rejoin(MembershipChange change, IPAddress group, IPAddress? source, string? interfaceName)
    {
        try
        {
            Apply(change, group, source, interfaceName);
        }
        catch (DatagramSocketException e) when (e.Errno == Errno.EADDRINUSE)
        {
        }
    }

    /// <summary>Remembers an interface this socket names: its Down and Up are reported from then on.</summary>
    private void Track(string name) => _named.Add(name);

    /// <summary>
    /// Brings memberships in line with the interfaces as the kernel last described them (after link events):
    /// reports down and up, drops memberships whose index no longer carries their interface's name (by that
    /// index: the stale entry would still count against igmp_max_memberships), and joins pending ones whose
    /// interface exists and is up. Source filters are not checked in /proc/net/mcfilter(6): those listings
    /// leave out whole interfaces (see <see cref="Diagnostics.KernelMulticastTables.ListingAnchorGroup"/>).
    /// </summary>
    public void Reconcile(IReadOnlyList<LinkChange> changes)
    {
        var gone = new Dictionary<string, (int Index, string Detail)>(StringComparer.Ordinal);
        var back = new HashSet<string>(StringComparer.Ordinal);
        foreach (SocketLedger.Entry entry in ledger.Memberships())
        {
            if (entry.InterfaceName is not string name) continue;
            links.TryGet(name, out LinkInfo? now);
            if (entry.Status == MembershipStatus.Active && (now is null || now.Index != entry.ActiveIndex) && !KernelStillHas(name, entry.ActiveIndex))
            {
                string detail = links.TryGet(entry.ActiveIndex, out LinkInfo? old) ? $"renamed to {old.Name}" : "deleted";
                gone[name] = (entry.ActiveIndex, detail);
                _gone.Add(name);
                DropStale(entry);
                entry.Status = MembershipStatus.Pending;
                entry.ActiveIndex = 0;
                shared.Publish(new MembershipPending(shared.Name, entry.ToMembership(), "interface gone"));
            }
            if (entry.Status == MembershipStatus.Pending && now is { IsUp: true })
            {
                try
                {
                    if (TryJoin(entry, countRestored: true)) back.Add(name);
                }
                catch (DatagramSocketException e)
                {
                    log.Warning("Socket {0}: rejoining {1} on {2} failed: {3}", shared.Name, entry.Group, name, e.Message);
                }
            }
        }
        foreach (var (name, (index, detail)) in gone) shared.Publish(new InterfaceChanged(shared.Name, name, index, InterfaceChange.Gone, detail));
        foreach (string name in back)
        {
            // Recreated for an interface that was gone; one that was only down at the start reports Up (from the changes).
            if (!_gone.Remove(name)) continue;
            links.TryGet(name, out LinkInfo? info);
            shared.Publish(new InterfaceChanged(shared.Name, name, info?.Index ?? 0, InterfaceChange.Recreated));
        }
        ReportFlaps(changes);
        FollowMulticastInterface();
    }

    /// <summary>The table may trail the kernel (an interface created a moment ago): before dropping a membership, ask the kernel.</summary>
    private static bool KernelStillHas(string name, int index) => NetworkInterfaceNames.TryGetIndex(name, out int now) == 0 && now == index;

    /// <summary>Down and up of the interfaces this socket names, in the kernel's order: reported, nothing else (the kernel keeps the memberships).</summary>
    private void ReportFlaps(IReadOnlyList<LinkChange> changes)
    {
        foreach (LinkChange change in changes)
        {
            if (change.Kind is not (LinkEvent.Down or LinkEvent.Up) || !_named.Contains(change.Name)) continue;
            shared.Publish(new InterfaceChanged(shared.Name, change.Name, change.Index, change.Kind == LinkEvent.Up ? InterfaceChange.Up : InterfaceChange.Down));
        }
    }

    /// <summary>The multicast interface is set by index in the kernel: a re-created interface needs it set again.</summary>
    private void FollowMulticastInterface()
    {
        if (!ledger.MulticastInterfaceSet || ledger.MulticastInterface is not string name || socket.IsClosed) return;
        if (links.TryGet(name, out LinkInfo? info) && info.Index != _multicastInterfaceIndex) SetMulticastInterface(name);
    }

    /// <summary>Leaves a membership by the index it was joined under (the interface may be gone).</summary>
    private void DropStale(SocketLedger.Entry entry)
    {
        int errno = socket.TryLeaveByIndex(entry.Group, entry.ActiveIndex);
        if (errno != 0 && errno != Errno.EADDRNOTAVAIL && errno != Errno.ENODEV)
        {
            log.Warning("Socket {0}: dropping stale membership {1} (index {2}) failed: {3}", shared.Name, entry.Group, entry.ActiveIndex, Errno.Name(errno));
        }
    }

    /// <summary>A membership command: applied to the socket, or recorded as pending while its interface is absent.</summary>
    public MembershipStatus Change(ChangeMembership c)
    {
        SocketLedger.Entry? existing = ledger.Find(c.Group, c.InterfaceName);
        bool up = true;
        bool interfaceAbsent = c.InterfaceName is not null && !Resolve(c.InterfaceName, out _, out up);
        // Down counts as absent for a new membership: a join made while down loses IPv6 source filters.
        bool interfaceDown = !interfaceAbsent && !up && existing is null;
        if (existing is { Status: MembershipStatus.Pending } || ((interfaceAbsent || interfaceDown) && c.Change is MembershipChange.Join or MembershipChange.JoinSource))
        {
            // What the kernel would say, for a membership that only the ledger holds for now.
            string args = c.ToString();
            if (c.Change == MembershipChange.Join && existing is not null)
            {
                throw new DatagramSocketException("JoinGroup", DatagramSocketError.Kernel, Errno.EADDRINUSE, args, "already a member (pending its interface)");
            }
            // A pending membership with no source yet is what the kernel will get as a fresh join: like a
            // fresh one it takes a source change of the other mode (the ledger switches it); one with sources does not.
            if (existing is not null && existing.Sources.Count > 0 && ((c.Change == MembershipChange.JoinSource && existing.Mode == FilterMode.Exclude)
                || (c.Change == MembershipChange.BlockSource && existing.Mode == FilterMode.Include)))
            {
                throw new DatagramSocketException(OperationName(c.Change), DatagramSocketError.Kernel, Errno.EINVAL, args, "the pending membership has the other filter mode");
            }
            if (settings.AbsentInterface == AbsentInterfacePolicy.Fail && existing is null)
            {
                NetworkInterfaceNames.GetIndex(c.InterfaceName!, OperationName(c.Change)); // throws UnknownInterface
            }
            // Waiting for the interface: record only; the join happens when it appears.
            var entry = ledger.Record(c, 0, MembershipStatus.Pending);
            if (entry is not null && c.Change is MembershipChange.Join or MembershipChange.JoinSource)
            {
                if (c.InterfaceName is string named) Track(named);
                shared.Publish(new MembershipPending(shared.Name, entry.ToMembership(), interfaceDown ? "interface down" : "interface absent"));
            }
            return MembershipStatus.Pending;
        }
        Apply(c.Change, c.Group, c.Source, c.InterfaceName);
        int index = 0;
        if (c.InterfaceName is string name && Resolve(name, out index, out _)) Track(name);
        ledger.Record(c, index, MembershipStatus.Active);
        return MembershipStatus.Active;
    }

    /// <summary>The socket core's name for a membership change, so an error names the call the same way from either layer.</summary>
    private static string OperationName(MembershipChange change) => change switch
    {
        MembershipChange.Join => nameof(DatagramSocket.JoinGroup),
        MembershipChange.Leave => nameof(DatagramSocket.LeaveGroup),
        MembershipChange.JoinSource => nameof(DatagramSocket.JoinSourceGroup),
        MembershipChange.LeaveSource => nameof(DatagramSocket.LeaveSourceGroup),
        MembershipChange.BlockSource => nameof(DatagramSocket.BlockSource),
        _ => nameof(DatagramSocket.UnblockSource),
    };
}
