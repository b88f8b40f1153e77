using Dgram.Actors.Diagnostics;
using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Dgram.Actors.Sockets;

namespace Dgram.Cli;

/// <summary>
/// <c>dgram info [--iface NAME]</c>: interfaces (index, name) with their IPv4 and IPv6 multicast
/// memberships and source filters, read from /proc/net (igmp, igmp6, mcfilter, mcfilter6).
/// </summary>
/// <remarks>
/// Output, one interface per block:
/// <code>
/// 3: lab0a
///   inet  232.1.0.7  users 1
///     source 198.51.100.2  include 1  exclude 0
///   inet6 ff15::d9a:3  users 1
/// </code>
/// "include N" / "exclude N" are the kernel's counts of sockets that include or exclude that source.
/// </remarks>
internal static class InfoCommand
{
    public static Command Create()
    {
        var iface = new Option<string?>("--iface", "-i") { Description = "Only this interface." };
        var command = new Command("info", "List interfaces with their multicast memberships and source filters (from /proc/net).") { iface };
        command.SetAction(r => Cli.Run(() => Run(r.GetValue(iface))));
        return command;
    }

    private static int Run(string? only)
    {
        int onlyIndex = only is null ? 0 : Cli.InterfaceIndex(only, "--iface");

        IReadOnlyList<GroupRow> groups = [.. KernelMulticastTables.Igmp(), .. KernelMulticastTables.Igmp6()];
        IReadOnlyList<SourceFilterRow> filters = [.. KernelMulticastTables.McFilter(), .. KernelMulticastTables.McFilter6()];

        // Every interface of this namespace: /proc/net/dev by name, plus any index the tables name.
        var interfaces = new SortedDictionary<int, string>();
        foreach (string name in KernelMulticastTables.DeviceNames())
        {
            if (NetworkInterfaceNames.TryGetIndex(name, out int index) == 0) interfaces[index] = name;
        }
        foreach (int index in groups.Select(g => g.InterfaceIndex).Concat(filters.Select(f => f.InterfaceIndex)))
        {
            if (!interfaces.ContainsKey(index)) interfaces[index] = NetworkInterfaceNames.GetName(index) ?? "#" + index;
        }
        if (onlyIndex != 0 && !interfaces.ContainsKey(onlyIndex)) interfaces[onlyIndex] = only!;

        var text = new StringBuilder();
        foreach ((int index, string name) in interfaces)
        {
            if (onlyIndex != 0 && index != onlyIndex) continue;
            text.Append(index).Append(": ").Append(name).Append('\n');
            // Groups in the order IPv4 then IPv6, each by address; a filter row whose group is missing
            // from igmp/igmp6 (a race with a leave) still shows, under its group.
            var here = groups.Where(g => g.InterfaceIndex == index).Select(g => (g.Group, Users: (int?)g.Users)).ToList();
            foreach (SourceFilterRow f in filters.Where(f => f.InterfaceIndex == index))
            {
                if (!here.Any(g => g.Group.Equals(f.Group))) here.Add((f.Group, null));
            }
            foreach ((IPAddress group, int? users) in here
                .OrderBy(g => g.Group.AddressFamily == AddressFamily.InterNetworkV6 ? 1 : 0)
                .ThenBy(g => Convert.ToHexString(g.Group.GetAddressBytes()), StringComparer.Ordinal))
            {
                text.Append("  ").Append(group.AddressFamily == AddressFamily.InterNetworkV6 ? "inet6 " : "inet  ").Append(group);
                if (users is { } u) text.Append("  users ").Append(u);
                text.Append('\n');
                foreach (SourceFilterRow f in filters.Where(f => f.InterfaceIndex == index && f.Group.Equals(group)))
                {
                    text.Append("    source ").Append(f.Source).Append("  include ").Append(f.Include)
                        .Append("  exclude ").Append(f.Exclude).Append('\n');
                }
            }
        }
        using Stream stdout = Console.OpenStandardOutput();
        byte[] bytes = new UTF8Encoding(false).GetBytes(text.ToString());
        stdout.Write(bytes);
        stdout.Flush();
        return ExitCodes.Ok;
    }
}
