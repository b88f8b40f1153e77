using System.Globalization;
using System.Net.Sockets;

namespace Dgram.Actors.Sockets;

/// <summary>
/// A kernel limit as read now: its sysctl name and value, or the kernel's default and why
/// (<paramref name="DefaultBecause"/>) when the sysctl cannot be read here.
/// </summary>
internal readonly record struct KernelLimit(string Name, int Value, string? DefaultBecause = null)
{
    /// <summary><c>net.ipv4.igmp_max_msf=10</c>, saying so when the value is only the kernel's default.</summary>
    public override string ToString() => Describe("=");

    /// <summary>The name and value joined by <paramref name="equals"/> (the socket core's errors say <c>name = value</c>).</summary>
    public string Describe(string equals) =>
        DefaultBecause is null ? $"{Name}{equals}{Value}" : $"{Name}{equals}{Value} (the kernel default: {DefaultBecause})";
}

/// <summary>
/// The sysctls behind per-socket multicast limits, read from /proc/sys, which shows the network namespace
/// of the calling thread: the one the process's sockets live in. Read at each call, since an
/// administrator may change them while the process runs.
/// </summary>
internal static class KernelLimits
{
    /// <summary>Memberships per IPv4 socket (ENOBUFS past it). IPv6 has none: joins run until net.core.optmem_max (ENOMEM).</summary>
    public static KernelLimit IPv4GroupsPerSocket() => Read("net.ipv4.igmp_max_memberships", 20);

    /// <summary>Sources (include or block list) per membership of a socket of <paramref name="family"/> (ENOBUFS past it).</summary>
    public static KernelLimit SourcesPerGroup(AddressFamily family) => family == AddressFamily.InterNetworkV6
        // mld_max_msf is one value for the whole machine, shown only in the initial network namespace.
        ? Read("net.ipv6.mld_max_msf", 64, "it exists only in the initial network namespace")
        : Read("net.ipv4.igmp_max_msf", 10);

    /// <summary>Socket option memory, which every membership and source list is charged to (ENOBUFS on IPv4, ENOMEM or ENOBUFS on IPv6).</summary>
    public static KernelLimit OptionMemory() => Read("net.core.optmem_max", 131072);

    /// <summary>An integer sysctl such as <c>net.ipv4.igmp_max_msf</c>, or <paramref name="kernelDefault"/> when it cannot be read.</summary>
    public static KernelLimit Read(string name, int kernelDefault, string? whyAbsent = null) =>
        int.TryParse(ReadText(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int value)
            ? new KernelLimit(name, value)
            : new KernelLimit(name, kernelDefault, $"{PathOf(name)} is not readable here" + (whyAbsent is null ? "" : "; " + whyAbsent));

    private static string PathOf(string name) => "/proc/sys/" + name.Replace('.', '/');

    private static string? ReadText(string name)
    {
        try
        {
            return File.ReadAllText(PathOf(name)).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
