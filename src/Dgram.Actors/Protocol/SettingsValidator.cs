using System.Net;
using System.Net.Sockets;
using Dgram.Actors.Sockets;

namespace Dgram.Actors.Protocol;

/// <summary>
/// Two sockets of one set that the kernel would not let bind side by side: the later one
/// (<paramref name="Index"/>), the earlier one it clashes with (<paramref name="Other"/>), and why.
/// </summary>
internal sealed record BindClash(int Index, int Other, string Problem);

/// <summary>
/// The checks of <see cref="SocketSettings.Validate"/> that need more than one property: memberships
/// against each other and against the live kernel limits, and sockets against each other. Each error
/// names the setting in <see cref="SocketSettings"/> terms (<c>Groups[3].Sources[1]</c>); configuration
/// maps those names to its keys.
/// </summary>
internal static class SettingsValidator
{
    private const string Op = "SocketSettings";

    /// <summary>
    /// Each membership: a multicast group of the socket's family, joined once per interface, with either
    /// an include or a block list of distinct unicast sources, within the kernel's per-group source limit;
    /// and, on IPv4, no more memberships than the per-socket limit.
    /// </summary>
    public static void ValidateGroups(SocketSettings s)
    {
        var joined = new Dictionary<(IPAddress, string?), int>();
        for (int i = 0; i < s.Groups.Count; i++)
        {
            GroupSettings g = s.Groups[i];
            string setting = $"Groups[{i}]";
            if (g.Group.AddressFamily != s.Family)
            {
                throw new DatagramSocketException(Op, DatagramSocketError.FamilyMismatch, 0, setting, $"group {g.Group} is {g.Group.AddressFamily}; the socket is {s.Family}");
            }
            if (!DatagramSocket.IsMulticast(g.Group))
            {
                throw new DatagramSocketException(Op, DatagramSocketError.NotMulticast, 0, setting, $"{g.Group} is not a multicast address");
            }
            if (!joined.TryAdd((g.Group, g.InterfaceName), i))
            {
                throw new DatagramSocketException(Op, DatagramSocketError.InvalidArgument, 0, setting,
                    $"{g.Group} on {g.InterfaceName ?? "the kernel's choice of interface"} is already entry {joined[(g.Group, g.InterfaceName)]}: "
                    + "a socket joins a group once per interface (the kernel refuses the second join with EADDRINUSE)");
            }
            IReadOnlyList<IPAddress> include = g.Sources ?? [], block = g.BlockedSources ?? [];
            if (include.Count > 0 && block.Count > 0)
            {
                // The kernel keeps one filter mode per membership: joining source-specific and blocking would
                // leave one list silently unused.
                throw new DatagramSocketException(Op, DatagramSocketError.InvalidArgument, 0, setting + ".BlockedSources",
                    "a membership either includes only its listed sources (source-specific) or blocks sources of an any-source join, not both");
            }
            ValidateSources(s.Family, setting + ".Sources", include);
            ValidateSources(s.Family, setting + ".BlockedSources", block);
            ValidateInterfaceName(g.InterfaceName, setting + ".InterfaceName");
        }
        // IPv6 has no per-socket group count: joins run until net.core.optmem_max (ENOMEM), which depends
        // on everything else the socket holds, so there is no limit to check here.
        if (s.Family == AddressFamily.InterNetwork && s.Groups.Count > 0)
        {
            KernelLimit limit = KernelLimits.IPv4GroupsPerSocket();
            if (s.Groups.Count > limit.Value)
            {
                throw new DatagramSocketException(Op, DatagramSocketError.OutOfRange, 0, $"Groups[{limit.Value}]",
                    $"{s.Groups.Count} groups on one IPv4 socket; the kernel allows {limit} per socket (ENOBUFS past it)");
            }
        }
    }

    /// <summary>A malformed interface name is an error; one that names no interface now is not (it may appear).</summary>
    public static void ValidateInterfaceName(string? name, string setting)
    {
        if (name is not null && NetworkInterfaceNames.TryGetIndex(name, out _) == Sockets.Native.Errno.EINVAL)
        {
            throw new DatagramSocketException(Op, DatagramSocketError.InvalidInterfaceName, 0, $"{setting}=\"{name}\"", "an interface name is 1 to 15 bytes");
        }
    }

    /// <summary>
    /// The first socket of <paramref name="sockets"/> that cannot bind beside an earlier one: the same Unix
    /// path, or the same port on overlapping addresses (equal, or either the wildcard; an IPv6 dual-mode
    /// wildcard also covers IPv4) without address reuse on both. Null when they all fit.
    /// </summary>
    public static BindClash? FindBindClash(IReadOnlyList<SocketSettings> sockets)
    {
        for (int i = 1; i < sockets.Count; i++)
        {
            for (int j = 0; j < i; j++)
            {
                if (BindProblem(sockets[j], sockets[i]) is { } problem) return new BindClash(i, j, problem);
            }
        }
        return null;
    }

    /// <summary>
    /// Checks sockets that will run side by side (a host's sockets, from configuration and from code):
    /// distinct names and no <see cref="FindBindClash">bind clash</see>. Throws <see cref="DatagramSocketException"/>
    /// naming the later socket.
    /// </summary>
    public static void ValidateTogether(IReadOnlyList<SocketSettings> sockets)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (SocketSettings s in sockets)
        {
            if (!names.Add(s.Name))
            {
                throw new DatagramSocketException(Op, DatagramSocketError.InvalidArgument, 0, $"Name=\"{s.Name}\"", "two sockets have this name; it names the actor");
            }
        }
        if (FindBindClash(sockets) is { } clash)
        {
            SocketSettings s = sockets[clash.Index];
            throw new DatagramSocketException(Op, DatagramSocketError.InvalidArgument, 0, $"LocalEndPoint={s.LocalEndPoint}", $"socket '{s.Name}': {clash.Problem}");
        }
    }

    private static void ValidateSources(AddressFamily family, string setting, IReadOnlyList<IPAddress> sources)
    {
        var seen = new Dictionary<IPAddress, int>();
        for (int k = 0; k < sources.Count; k++)
        {
            IPAddress source = sources[k];
            string entry = $"{setting}[{k}]";
            if (source.AddressFamily != family)
            {
                throw new DatagramSocketException(Op, DatagramSocketError.FamilyMismatch, 0, entry, $"source {source} is {source.AddressFamily}; the socket is {family}");
            }
            if (DatagramSocket.NotUnicastSource(source) is { } problem)
            {
                throw new DatagramSocketException(Op, DatagramSocketError.InvalidArgument, 0, entry, problem);
            }
            if (!seen.TryAdd(source, k))
            {
                throw new DatagramSocketException(Op, DatagramSocketError.InvalidArgument, 0, entry, $"{source} is already entry {seen[source]} of this list");
            }
        }
        if (sources.Count > 1)
        {
            KernelLimit limit = KernelLimits.SourcesPerGroup(family);
            int allowed = Math.Max(limit.Value, 1); // the kernel checks the limit only against an existing list: the first source always fits
            if (sources.Count > allowed)
            {
                throw new DatagramSocketException(Op, DatagramSocketError.OutOfRange, 0, $"{setting}[{allowed}]",
                    $"{sources.Count} sources for one group; the kernel allows {limit} per group (ENOBUFS past it)");
            }
        }
    }

    /// <summary>Why <paramref name="later"/> cannot bind beside <paramref name="earlier"/>, or null.</summary>
    private static string? BindProblem(SocketSettings earlier, SocketSettings later)
    {
        switch (earlier.LocalEndPoint, later.LocalEndPoint)
        {
            case (UnixDomainSocketEndPoint a, UnixDomainSocketEndPoint b) when UnixName(a) == UnixName(b):
                // A live socket's file is never replaced, whatever the reuse options: the second bind gets EADDRINUSE.
                return $"socket '{earlier.Name}' binds {a} too; a Unix path takes one socket";
            case (IPEndPoint a, IPEndPoint b) when a.Port == b.Port && a.Port != 0 && Overlap(earlier, a, later, b) && !BothReuse(earlier.Reuse, later.Reuse):
                return $"socket '{earlier.Name}' binds {a} too: the same port on an overlapping address (equal, or a wildcard); "
                    + "the second bind would fail with EADDRINUSE unless both set address reuse (Reuse; in configuration ReuseAddress)";
            default:
                return null;
        }
    }

    /// <summary>Linux lets two UDP sockets share an address when both set SO_REUSEADDR, or both SO_REUSEPORT (same user).</summary>
    private static bool BothReuse(AddressReuse a, AddressReuse b) =>
        (a & b & (AddressReuse.ReuseAddress | AddressReuse.ReusePort)) != 0;

    private static bool Overlap(SocketSettings sa, IPEndPoint a, SocketSettings sb, IPEndPoint b) =>
        Claims(sa, a).Any(x => Claims(sb, b).Any(y => x.AddressFamily == y.AddressFamily && (x.Equals(y) || IsWildcard(x) || IsWildcard(y))));

    /// <summary>The addresses a bind takes: an IPv4-mapped address is IPv4's, a dual-mode IPv6 wildcard takes IPv4's wildcard too.</summary>
    private static IEnumerable<IPAddress> Claims(SocketSettings s, IPEndPoint ep)
    {
        if (ep.Address.IsIPv4MappedToIPv6)
        {
            yield return ep.Address.MapToIPv4();
            yield break;
        }
        yield return ep.Address;
        if (ep.Address.Equals(IPAddress.IPv6Any) && s.SocketOptions.DualMode) yield return IPAddress.Any;
    }

    private static bool IsWildcard(IPAddress a) => a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any);

    /// <summary>An abstract name as it is; a path made absolute, so "a.sock" and "./a.sock" compare equal.</summary>
    private static string UnixName(UnixDomainSocketEndPoint ep)
    {
        string name = ep.ToString();
        return name.Length == 0 || name[0] is '\0' or '@' ? name : Path.GetFullPath(name);
    }
}
