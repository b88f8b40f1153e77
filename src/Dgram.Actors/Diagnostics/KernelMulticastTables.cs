using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Dgram.Actors.Sockets;

namespace Dgram.Actors.Diagnostics;

/// <summary>A group joined on an interface, from /proc/net/igmp or /proc/net/igmp6.</summary>
/// <param name="InterfaceIndex">The interface's index.</param>
/// <param name="Group">The group.</param>
/// <param name="Users">How many memberships (sockets, and the kernel's own) hold it.</param>
public sealed record GroupRow(int InterfaceIndex, IPAddress Group, int Users);

/// <summary>One source-filter row of /proc/net/mcfilter or /proc/net/mcfilter6: how many sockets include and exclude the source.</summary>
/// <param name="InterfaceIndex">The interface's index.</param>
/// <param name="Group">The group.</param>
/// <param name="Source">The source.</param>
/// <param name="Include">Sockets that include the source (source-specific memberships).</param>
/// <param name="Exclude">Sockets that block the source (any-source memberships).</param>
public sealed record SourceFilterRow(int InterfaceIndex, IPAddress Group, IPAddress Source, long Include, long Exclude);

/// <summary>
/// Reads the kernel's multicast tables for this process's network namespace (/proc/net follows the
/// reader's namespace; sysfs may not). Formats:
/// <list type="bullet">
/// <item>igmp: an interface line "Idx Device : Count Querier", then one indented line per group whose
/// address is hex in host byte order (the be32 printed as an integer), then users;</item>
/// <item>igmp6: "ifindex name group(32 hex digits) users flags timer";</item>
/// <item>mcfilter: "Idx Device(cut to 6) 0xGROUP 0xSOURCE INC EXC", addresses in network order;</item>
/// <item>mcfilter6: "Idx Device(cut to 6) GROUP SOURCE INC EXC", 32 hex digits each.</item>
/// </list>
/// Device names are cut in mcfilter*, so rows are matched by interface index.
/// These are seq_files that resume by row index between 4 KB reads: while other sockets join and
/// leave, one pass can skip rows. Each table is therefore read in passes until two in a row find no
/// row the earlier ones lacked (at least 3, at most 10) and the rows united; a row absent from all is absent.
/// </summary>
public static class KernelMulticastTables
{
    private const int MinPasses = 3, MaxPasses = 10;

    /// <summary>IPv4 groups per interface (/proc/net/igmp).</summary>
    public static IReadOnlyList<GroupRow> Igmp(string path = "/proc/net/igmp") => United(path, ParseIgmp, r => (r.InterfaceIndex, r.Group));

    /// <summary>IPv6 groups per interface (/proc/net/igmp6).</summary>
    public static IReadOnlyList<GroupRow> Igmp6(string path = "/proc/net/igmp6") => United(path, ParseIgmp6, r => (r.InterfaceIndex, r.Group));

    /// <summary>IPv4 source filters (/proc/net/mcfilter), read under a listing anchor (see <see cref="ListingAnchorGroup"/>).</summary>
    public static IReadOnlyList<SourceFilterRow> McFilter(string path = "/proc/net/mcfilter") =>
        Anchored(path == "/proc/net/mcfilter" ? AddressFamily.InterNetwork : null, () => United(path, ParseMcFilter, r => (r.InterfaceIndex, r.Group, r.Source)));

    /// <summary>IPv6 source filters (/proc/net/mcfilter6), read under a listing anchor (see <see cref="ListingAnchorGroup"/>).</summary>
    public static IReadOnlyList<SourceFilterRow> McFilter6(string path = "/proc/net/mcfilter6") =>
        Anchored(path == "/proc/net/mcfilter6" ? AddressFamily.InterNetworkV6 : null, () => United(path, ParseMcFilter6, r => (r.InterfaceIndex, r.Group, r.Source)));

    /// <summary>
    /// The source-specific group (source: the loopback address) joined on lo while mcfilter(6) is read.
    /// Linux starts those listings at the first interface whose most recently joined group has a source
    /// filter (igmp_mcf_get_first and igmp6_mcf_get_first look only at the head of each interface's
    /// list): every filter on the interfaces before it is left out, so one socket joining a plain group
    /// hides every source filter of its interface. Joining this group on lo, the first interface, makes
    /// the listing start there. Best effort: without lo (down, no IPv6) the table is read as it is.
    /// Its rows are not returned.
    /// </summary>
    public static IPAddress ListingAnchorGroup(AddressFamily family) =>
        family == AddressFamily.InterNetworkV6 ? AnchorGroup6 : AnchorGroup4;

    private static readonly IPAddress AnchorGroup4 = IPAddress.Parse("232.255.255.254"), AnchorGroup6 = IPAddress.Parse("ff35::d9a:fffe");

    private static IReadOnlyList<SourceFilterRow> Anchored(AddressFamily? family, Func<IReadOnlyList<SourceFilterRow>> read)
    {
        if (family is not AddressFamily f) return read();
        DatagramSocket? anchor = null;
        try
        {
            anchor = DatagramSocket.Create(f);
            anchor.JoinSourceGroup(ListingAnchorGroup(f), f == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback, "lo");
        }
        catch (DatagramSocketException)
        {
            // No lo to anchor on: read without (filters may be left out as described).
        }
        try
        {
            // Only the anchor's own row: lo's index, its group, the loopback source.
            IPAddress group = ListingAnchorGroup(f);
            int lo = NetworkInterfaceNames.TryGetIndex("lo", out int index) == 0 ? index : -1;
            return read().Where(r => !(r.InterfaceIndex == lo && r.Group.Equals(group) && IPAddress.IsLoopback(r.Source))).ToList();
        }
        finally
        {
            anchor?.Dispose();
        }
    }

    /// <summary>Rows of several passes, one per key (the first pass's counts win when they changed between passes).</summary>
    private static IReadOnlyList<T> United<T, TKey>(string path, Func<IEnumerable<string>, IReadOnlyList<T>> parse, Func<T, TKey> key)
    {
        var rows = new List<T>();
        var keys = new HashSet<TKey>();
        int quiet = 0;
        for (int pass = 0; pass < MaxPasses && (pass < MinPasses || quiet < 2); pass++)
        {
            bool added = false;
            foreach (T row in parse(ReadLines(path)))
            {
                if (keys.Add(key(row)))
                {
                    rows.Add(row);
                    added = true;
                }
            }
            quiet = added ? 0 : quiet + 1;
        }
        return rows;
    }

    /// <summary>Interface names from /proc/net/dev (every interface of the namespace, with or without addresses).</summary>
    public static IReadOnlyList<string> DeviceNames(string path = "/proc/net/dev")
    {
        var names = new List<string>();
        foreach (string line in ReadLines(path))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || line.Contains('|', StringComparison.Ordinal)) continue; // the two header lines
            names.Add(line[..colon].Trim());
        }
        return names;
    }

    /// <summary>A missing table (IPv6 disabled, IGMP not built) reads as empty.</summary>
    private static string[] ReadLines(string path) => File.Exists(path) ? File.ReadAllLines(path) : [];

    internal static IReadOnlyList<GroupRow> ParseIgmp(IEnumerable<string> lines)
    {
        var rows = new List<GroupRow>();
        int current = -1;
        foreach (string line in lines.Skip(1))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            string[] f = Fields(line);
            if (!char.IsWhiteSpace(line[0]))
            {
                current = int.TryParse(f[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int index) ? index : -1;
                continue;
            }
            if (current < 0 || f.Length < 2 || f[0].Length != 8) continue;
            if (!uint.TryParse(f[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint raw)) continue;
            // Host byte order: the network-order bytes read back as a native integer.
            byte[] b = new byte[4];
            if (BitConverter.IsLittleEndian) BinaryPrimitives.WriteUInt32LittleEndian(b, raw);
            else BinaryPrimitives.WriteUInt32BigEndian(b, raw);
            rows.Add(new GroupRow(current, new IPAddress(b), ParseInt(f[1])));
        }
        return rows;
    }

    internal static IReadOnlyList<GroupRow> ParseIgmp6(IEnumerable<string> lines)
    {
        var rows = new List<GroupRow>();
        foreach (string line in lines)
        {
            string[] f = Fields(line);
            if (f.Length < 4 || !int.TryParse(f[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int index)) continue;
            if (TryHex6(f[2], out IPAddress? group)) rows.Add(new GroupRow(index, group, ParseInt(f[3])));
        }
        return rows;
    }

    internal static IReadOnlyList<SourceFilterRow> ParseMcFilter(IEnumerable<string> lines)
    {
        var rows = new List<SourceFilterRow>();
        foreach (string line in lines.Skip(1))
        {
            string[] f = Fields(line);
            if (f.Length < 6 || !int.TryParse(f[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int index)) continue;
            if (TryHex4(f[2], out IPAddress? group) && TryHex4(f[3], out IPAddress? source))
            {
                rows.Add(new SourceFilterRow(index, group, source, ParseLong(f[4]), ParseLong(f[5])));
            }
        }
        return rows;
    }

    internal static IReadOnlyList<SourceFilterRow> ParseMcFilter6(IEnumerable<string> lines)
    {
        var rows = new List<SourceFilterRow>();
        foreach (string line in lines.Skip(1))
        {
            string[] f = Fields(line);
            if (f.Length < 6 || !int.TryParse(f[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int index)) continue;
            if (TryHex6(f[2], out IPAddress? group) && TryHex6(f[3], out IPAddress? source))
            {
                rows.Add(new SourceFilterRow(index, group, source, ParseLong(f[4]), ParseLong(f[5])));
            }
        }
        return rows;
    }

    private static string[] Fields(string line) => line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);

    /// <summary>"0xe8010001": network order, as printed by mcfilter.</summary>
    private static bool TryHex4(string s, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) s = s[2..];
        if (s.Length != 8 || !s.All(char.IsAsciiHexDigit)) return false;
        address = new IPAddress(Convert.FromHexString(s));
        return true;
    }

    /// <summary>32 hex digits without colons, as igmp6 and mcfilter6 print.</summary>
    private static bool TryHex6(string s, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        if (s.Length != 32 || !s.All(char.IsAsciiHexDigit)) return false;
        address = new IPAddress(Convert.FromHexString(s));
        return true;
    }

    private static int ParseInt(string s) => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : 0;

    private static long ParseLong(string s) => long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v : 0;
}
