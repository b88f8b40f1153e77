using System.Buffers.Binary;
using System.Globalization;
using System.Net;

namespace Dgram.Actors.Tests.Lab;

/// <summary>One source-filter row of /proc/net/mcfilter or mcfilter6.</summary>
public sealed record SourceFilterEntry(int InterfaceIndex, IPAddress Group, IPAddress Source, int Include, int Exclude);

/// <summary>
/// Reads the kernel's multicast tables. The kernel is the judge: tests assert on these, never on the
/// library's own records. Formats (LAB-FACTS): igmp prints groups in host byte order; mcfilter in
/// network order; mcfilter/mcfilter6 cut device names to 6 characters, so rows match on the index.
/// </summary>
public static class KernelTables
{
    /// <summary>
    /// An integer sysctl (<c>net.ipv4.igmp_max_msf</c>) of this namespace, or <paramref name="kernelDefault"/>
    /// when it has no such file (net.ipv6.mld_max_msf exists only in the initial namespace).
    /// </summary>
    public static int Sysctl(string name, int kernelDefault)
    {
        string path = "/proc/sys/" + name.Replace('.', '/');
        return File.Exists(path) ? int.Parse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture) : kernelDefault;
    }

    /// <summary>
    /// The /proc multicast tables are seq_files that resume by row index between 4 KB reads: while
    /// other tests join and leave in parallel, one pass can skip rows. Passes are read until two in a
    /// row add no line the earlier ones lacked (at least 3, at most 10); a row absent from all is absent.
    /// </summary>
    private static IEnumerable<string[]> Passes(string path)
    {
        var seen = new HashSet<string>();
        int quiet = 0;
        for (int pass = 0; pass < 10 && (pass < 3 || quiet < 2); pass++)
        {
            string[] lines = File.ReadAllLines(path);
            int before = seen.Count;
            seen.UnionWith(lines);
            quiet = seen.Count == before ? quiet + 1 : 0;
            yield return lines;
        }
    }

    private static IEnumerable<string> Lines(string path, bool header = true) =>
        Passes(path).SelectMany(lines => lines.Skip(header ? 1 : 0)).Distinct();

    /// <summary>Groups joined on an interface (IPv4: /proc/net/igmp; IPv6: /proc/net/igmp6).</summary>
    public static IReadOnlySet<IPAddress> Groups(LabFamily family, int ifindex) =>
        family.IsV6 ? Igmp6Groups(ifindex) : IgmpGroups(ifindex);

    public static IReadOnlySet<IPAddress> IgmpGroups(int ifindex)
    {
        var groups = new HashSet<IPAddress>();
        int current = -1;
        // Several passes (see Passes); the device lines reset the current interface in each.
        foreach (string line in Passes("/proc/net/igmp").SelectMany(lines => lines.Skip(1)))
        {
            if (line.Length == 0) continue;
            if (!char.IsWhiteSpace(line[0]))
            {
                current = int.Parse(line.Split('\t', ' ')[0], CultureInfo.InvariantCulture);
                continue;
            }
            if (current != ifindex) continue;
            string hex = line.Trim().Split(' ', '\t')[0];
            // Host byte order: the be32 printed as a little-endian integer.
            uint raw = uint.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            byte[] b = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(b, raw);
            groups.Add(new IPAddress(b));
        }
        return groups;
    }

    public static IReadOnlySet<IPAddress> Igmp6Groups(int ifindex)
    {
        var groups = new HashSet<IPAddress>();
        foreach (string line in Lines("/proc/net/igmp6", header: false))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 3 && int.Parse(f[0], CultureInfo.InvariantCulture) == ifindex)
            {
                groups.Add(new IPAddress(Convert.FromHexString(f[2])));
            }
        }
        return groups;
    }

    /// <summary>Source filters (IPv4: /proc/net/mcfilter; IPv6: /proc/net/mcfilter6).</summary>
    public static IReadOnlyList<SourceFilterEntry> SourceFilters(LabFamily family) =>
        family.IsV6 ? McFilter6() : McFilter();

    /// <summary>
    /// Linux lists source filters starting at the first interface whose most recently joined group has
    /// one (igmp_mcf_get_first / igmp6_mcf_get_first look only at each interface's head): a plain join by
    /// any other test hides every filter of its interface. A source-specific join on lo, the first
    /// interface, held while reading, makes the listing start there (the library's reader does the same,
    /// with the same group; its rows are left out).
    /// </summary>
    private static IReadOnlyList<SourceFilterEntry> Anchored(System.Net.Sockets.AddressFamily family, Func<List<SourceFilterEntry>> read)
    {
        IPAddress group = Dgram.Actors.Diagnostics.KernelMulticastTables.ListingAnchorGroup(family);
        using var anchor = Dgram.Actors.Sockets.DatagramSocket.Create(family);
        anchor.JoinSourceGroup(group, family == System.Net.Sockets.AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback, "lo");
        return read().Where(r => !r.Group.Equals(group)).ToList();
    }

    public static IReadOnlyList<SourceFilterEntry> McFilter() => Anchored(System.Net.Sockets.AddressFamily.InterNetwork, () =>
    {
        var rows = new List<SourceFilterEntry>();
        foreach (string line in Lines("/proc/net/mcfilter"))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 6) continue;
            rows.Add(new SourceFilterEntry(int.Parse(f[0], CultureInfo.InvariantCulture), Hex4(f[2]), Hex4(f[3]),
                int.Parse(f[4], CultureInfo.InvariantCulture), int.Parse(f[5], CultureInfo.InvariantCulture)));
        }
        return rows;

        static IPAddress Hex4(string s) => new(Convert.FromHexString(s.StartsWith("0x", StringComparison.Ordinal) ? s[2..] : s));
    });

    public static IReadOnlyList<SourceFilterEntry> McFilter6() => Anchored(System.Net.Sockets.AddressFamily.InterNetworkV6, () =>
    {
        var rows = new List<SourceFilterEntry>();
        foreach (string line in Lines("/proc/net/mcfilter6"))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 6) continue;
            rows.Add(new SourceFilterEntry(int.Parse(f[0], CultureInfo.InvariantCulture), new IPAddress(Convert.FromHexString(f[2])),
                new IPAddress(Convert.FromHexString(f[3])), int.Parse(f[4], CultureInfo.InvariantCulture), int.Parse(f[5], CultureInfo.InvariantCulture)));
        }
        return rows;
    });

    /// <summary>The filter row for (interface, group, source), or null.</summary>
    public static SourceFilterEntry? SourceFilter(LabFamily family, int ifindex, IPAddress group, IPAddress source) =>
        SourceFilters(family).FirstOrDefault(e => e.InterfaceIndex == ifindex && e.Group.Equals(group) && e.Source.Equals(WithoutScope(source)));

    private static IPAddress WithoutScope(IPAddress a) =>
        a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && a.ScopeId != 0 ? new IPAddress(a.GetAddressBytes()) : a;
}
