namespace Dgram.Actors.Sockets;

/// <summary>
/// The kernel knobs that bound a socket's multicast state, read live (from this process's network
/// namespace) when an error needs to name the one that was reached.
/// </summary>
internal static class KernelLimits
{
    /// <summary>IPv4 groups per socket (ENOBUFS past it); IPv6 has no such count.</summary>
    public static Knob MaxMemberships => Read("net.ipv4.igmp_max_memberships", 20);

    /// <summary>Sources per group and socket (ENOBUFS past it). <c>net.ipv6.mld_max_msf</c> exists only in the initial namespace.</summary>
    public static Knob MaxSources(bool ipv6) => ipv6 ? Read("net.ipv6.mld_max_msf", 64) : Read("net.ipv4.igmp_max_msf", 10);

    /// <summary>Socket option memory, which every membership and source list is charged to (ENOBUFS on IPv4, ENOMEM or ENOBUFS on IPv6).</summary>
    public static Knob OptionMemory => Read("net.core.optmem_max", 131072);

    private static Knob Read(string name, int kernelDefault)
    {
        try
        {
            string text = File.ReadAllText("/proc/sys/" + name.Replace('.', '/')).Trim();
            if (int.TryParse(text, out int value)) return new Knob(name, value, Live: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return new Knob(name, kernelDefault, Live: false);
    }

    /// <summary>A knob's name and value; <paramref name="Live"/> false when unreadable here and the kernel default is assumed.</summary>
    public readonly record struct Knob(string Name, int Value, bool Live)
    {
        /// <inheritdoc />
        public override string ToString() => Live ? $"{Name} = {Value}" : $"{Name} = {Value} (kernel default; not readable here)";
    }
}
