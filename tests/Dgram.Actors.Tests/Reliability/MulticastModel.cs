namespace Dgram.Actors.Tests.Reliability;

/// <summary>What one step of a generated sequence asks the socket actor to do.</summary>
public enum StepKind
{
    SetLoop, SetTtl, SetInterface, GetLoop, GetTtl, GetInterface,
    Join, Leave, JoinSource, LeaveSource, Block, Unblock,
}

/// <summary>
/// One step over a small universe, by index so a sequence reads the same for IPv4 and IPv6 and for every
/// run: groups A0, A1 (any-source ranges) and S0, S1 (source-specific ranges), sources s0..s2 (the lab's
/// lab0b addresses), interfaces lab0a and lab1a. <see cref="Value"/> is the TTL, the loop flag (0/1) or
/// the outgoing interface (-1 null, 0 lab0a, 1 lab1a).
/// </summary>
public sealed record Step(StepKind Kind, int Group = 0, int Source = 0, int Interface = 0, int Value = 0)
{
    public static readonly string[] GroupNames = ["A0", "A1", "S0", "S1"];
    public static readonly string[] InterfaceNames = [Lab.LabNet.Rx0, Lab.LabNet.Rx1];

    public static string? InterfaceName(int value) => value < 0 ? null : InterfaceNames[value];

    public override string ToString() => Kind switch
    {
        StepKind.SetLoop => $"loop := {(Value != 0 ? "on" : "off")}",
        StepKind.SetTtl => $"ttl := {Value}",
        StepKind.SetInterface => $"mcastif := {InterfaceName(Value) ?? "null"}",
        StepKind.GetLoop => "loop?",
        StepKind.GetTtl => "ttl?",
        StepKind.GetInterface => "mcastif?",
        StepKind.Join => $"join {GroupNames[Group]} @{InterfaceNames[Interface]}",
        StepKind.Leave => $"leave {GroupNames[Group]} @{InterfaceNames[Interface]}",
        StepKind.JoinSource => $"joinsrc {GroupNames[Group]} s{Source} @{InterfaceNames[Interface]}",
        StepKind.LeaveSource => $"leavesrc {GroupNames[Group]} s{Source} @{InterfaceNames[Interface]}",
        StepKind.Block => $"block {GroupNames[Group]} s{Source} @{InterfaceNames[Interface]}",
        StepKind.Unblock => $"unblock {GroupNames[Group]} s{Source} @{InterfaceNames[Interface]}",
        _ => Kind.ToString(),
    };
}

/// <summary>
/// What the kernel does with one socket's multicast options and memberships, written from Linux's
/// net/ipv4/igmp.c and net/ipv6/mcast.c (ip_mc_join_group, ip_mc_source, ip6_mc_source) and checked with
/// plain setsockopt calls in the lab before these properties were written; not from the library. Both
/// families behave alike here. Per (group, interface):
/// <list type="bullet">
/// <item>MCAST_JOIN_GROUP twice: EADDRINUSE. MCAST_LEAVE_GROUP without a membership: EADDRNOTAVAIL.</item>
/// <item>MCAST_JOIN_SOURCE_GROUP creates an INCLUDE membership when there is none, then adds the source.</item>
/// <item>A source change (join/leave source: INCLUDE; block/unblock: EXCLUDE) without a membership: EINVAL.
/// With a source list allocated, a change of the other mode: EINVAL. With none (no source ever added),
/// the membership switches to the change's mode first, and stays switched even if the change then
/// fails (leave-source on a plain join: EADDRNOTAVAIL, but the filter is now INCLUDE {}).</item>
/// <item>Removing a source that is not in the list (or with no list): EADDRNOTAVAIL. Removing the last
/// INCLUDE source leaves the group. Removing the last EXCLUDE source keeps an empty, allocated list.</item>
/// <item>Adding a source already there: EADDRNOTAVAIL.</item>
/// <item>TTL/hops: -1 means the default (1), -1..255 accepted for both families; the library refuses
/// anything else itself (OutOfRange) before the kernel (EINVAL) sees it.</item>
/// </list>
/// Setters answer with the value in force before them (the seed's convention).
/// </summary>
public sealed class MulticastModel
{
    public enum Mode { Include, Exclude }

    public sealed class Membership
    {
        public Mode Mode;
        /// <summary>The kernel allocated a source list (first source added); it then refuses mode switches.</summary>
        public bool HasList;
        public readonly List<int> Sources = [];
    }

    public bool Loop { get; private set; } = true;
    public int Ttl { get; private set; } = 1;
    /// <summary>-1: none (the kernel routes), else an index into <see cref="Step.InterfaceNames"/>.</summary>
    public int Interface { get; private set; } = -1;
    public SortedDictionary<(int Group, int Interface), Membership> Memberships { get; } = [];

    /// <summary>Kernel paths taken so far beyond the plain outcome (mode switches, the last source leaving), for the coverage check.</summary>
    public HashSet<string> Paths { get; } = [];

    /// <summary>Applies a step; returns the outcome the actor must report, in <see cref="Outcome"/>'s words.</summary>
    public string Apply(Step s)
    {
        switch (s.Kind)
        {
            case StepKind.SetLoop:
            {
                bool previous = Loop;
                Loop = s.Value != 0;
                return Outcome.Was(previous);
            }
            case StepKind.SetTtl:
            {
                if (s.Value is < -1 or > 255) return Outcome.Error("OutOfRange");
                int previous = Ttl;
                Ttl = s.Value == -1 ? 1 : s.Value;
                return Outcome.Was(previous);
            }
            case StepKind.SetInterface:
            {
                int previous = Interface;
                Interface = s.Value;
                return Outcome.Was(Step.InterfaceName(previous));
            }
            case StepKind.GetLoop: return Outcome.Is(Loop);
            case StepKind.GetTtl: return Outcome.Is(Ttl);
            case StepKind.GetInterface: return Outcome.Is(Step.InterfaceName(Interface));
        }

        var key = (s.Group, s.Interface);
        Memberships.TryGetValue(key, out Membership? m);
        switch (s.Kind)
        {
            case StepKind.Join:
                if (m is not null) return Outcome.Error("EADDRINUSE");
                Memberships[key] = new Membership { Mode = Mode.Exclude };
                return Outcome.Ok;
            case StepKind.Leave:
                if (m is null) return Outcome.Error("EADDRNOTAVAIL");
                Memberships.Remove(key);
                return Outcome.Ok;
            case StepKind.JoinSource:
                if (m is null) Memberships[key] = m = new Membership { Mode = Mode.Include };
                return SourceChange(key, m, add: true, Mode.Include, s.Source);
            case StepKind.LeaveSource:
                return SourceChange(key, m, add: false, Mode.Include, s.Source);
            case StepKind.Block:
                return SourceChange(key, m, add: true, Mode.Exclude, s.Source);
            case StepKind.Unblock:
                return SourceChange(key, m, add: false, Mode.Exclude, s.Source);
            default:
                throw new ArgumentOutOfRangeException(nameof(s), s.Kind, null);
        }
    }

    private string SourceChange((int, int) key, Membership? m, bool add, Mode mode, int source)
    {
        if (m is null) return Outcome.Error("EINVAL");
        if (m.HasList && m.Mode != mode) return Outcome.Error("EINVAL");
        if (m.Mode != mode) Paths.Add($"empty filter switched to {mode}" + (add ? "" : " by a failing removal"));
        m.Mode = mode; // no list yet: the kernel switches the mode, whatever happens next
        if (!add)
        {
            if (!m.HasList || !m.Sources.Contains(source)) return Outcome.Error("EADDRNOTAVAIL");
            if (m.Sources.Count == 1 && mode == Mode.Include)
            {
                Paths.Add("last included source left the group");
                Memberships.Remove(key);
                return Outcome.Ok;
            }
            m.Sources.Remove(source);
            if (m.Sources.Count == 0) Paths.Add("exclude list emptied, kept");
            return Outcome.Ok;
        }
        m.HasList = true;
        if (m.Sources.Contains(source)) return Outcome.Error("EADDRNOTAVAIL");
        m.Sources.Add(source);
        return Outcome.Ok;
    }

    /// <summary>
    /// The socket was replaced and its state rebuilt with fresh calls. Everything visible stays; the one
    /// thing a fresh socket cannot have is an allocated but empty source list (block then unblock), so
    /// such a membership becomes one whose mode a source change may switch again.
    /// </summary>
    public void Restarted()
    {
        foreach (Membership m in Memberships.Values) m.HasList = m.Sources.Count > 0;
    }

    /// <summary>The kernel state this model predicts, in the same lines as the runner's kernel view.</summary>
    public IReadOnlyList<string> View(bool interfaceReadable)
    {
        var lines = new List<string>
        {
            $"loop {(Loop ? "on" : "off")}",
            $"ttl {Ttl}",
        };
        if (interfaceReadable) lines.Add($"mcastif {Step.InterfaceName(Interface) ?? "null"}");
        foreach (var ((g, i), m) in Memberships)
        {
            lines.Add($"member {Step.GroupNames[g]} @{Step.InterfaceNames[i]}");
            foreach (int src in m.Sources)
            {
                lines.Add($"filter {Step.GroupNames[g]} @{Step.InterfaceNames[i]} s{src} {(m.Mode == Mode.Include ? "include" : "exclude")}");
            }
        }
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }
}

/// <summary>How a step's outcome is written, by the model and by the runner alike.</summary>
public static class Outcome
{
    public const string Ok = "ok";
    public static string Error(string name) => "error " + name;
    public static string Was(bool previous) => "ok, was " + (previous ? "on" : "off");
    public static string Was(int previous) => "ok, was " + previous;
    public static string Was(string? previous) => "ok, was " + (previous ?? "null");
    public static string Is(bool value) => "= " + (value ? "on" : "off");
    public static string Is(int value) => "= " + value;
    public static string Is(string? value) => "= " + (value ?? "null");
}
