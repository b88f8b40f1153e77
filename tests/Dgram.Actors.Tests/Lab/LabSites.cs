using System.Diagnostics;
using System.Net;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace Dgram.Actors.Tests.Lab;

/// <summary>
/// A network namespace of the multi-site lab (issue 16, item 9), held by its own process (<c>unshare -n sleep
/// infinity</c>: a namespace lives as long as a process in it, and dies with its interfaces when that process is
/// killed). Commands run in it through <c>nsenter</c>; sockets are made in it by <see cref="In{T}"/>.
/// </summary>
public class LabNamespace : IDisposable
{
    private const int CLONE_NEWNET = 0x40000000;
    private readonly Process _holder;

    protected LabNamespace()
    {
        var psi = new ProcessStartInfo("unshare", ["-n", "sleep", "infinity"]) { RedirectStandardError = true };
        _holder = Process.Start(psi)!;
        // unshare makes the namespace, then execs sleep: wait until the holder is in a namespace of its own.
        string ours = NamespaceOf(Environment.ProcessId);
        if (!SpinWait.SpinUntil(() => _holder.HasExited || TryNamespaceOf(_holder.Id) is { } ns && ns != ours, TimeSpan.FromSeconds(5)) || _holder.HasExited)
        {
            throw new InvalidOperationException($"unshare -n did not make a namespace: {(_holder.HasExited ? _holder.StandardError.ReadToEnd() : "timed out")}");
        }
        Exec("ip", "link", "set", "lo", "up");
        // Interfaces made here from now on skip duplicate address detection, link-local addresses included:
        // a tentative address cannot be bound (EADDRNOTAVAIL); the lab's own addresses also carry nodad.
        Sysctl("net/ipv6/conf/default/accept_dad", "0");
    }

    /// <summary>The holder's process id: <c>ip link set DEV netns PID</c> moves an interface here.</summary>
    public int Pid => _holder.Id;

    /// <summary>Runs a command in this namespace; fails with its stderr when it fails.</summary>
    public void Exec(params string[] command) => LabLink.Run("nsenter", ["-t", Pid.ToString(), "-n", "--", .. command]);

    /// <summary>Writes a sysctl of this namespace (its /proc/sys/net is the namespace's own).</summary>
    public void Sysctl(string path, string value) => Exec("sh", "-c", $"echo {value} > /proc/sys/{path}");

    /// <summary>
    /// Runs <paramref name="make"/> on a thread that entered this namespace: a socket made there stays in it, from
    /// whatever thread it is used later. Interface names are looked up in the namespace of the calling thread, so
    /// joins and interface choices by name belong inside <paramref name="make"/> too.
    /// </summary>
    public T In<T>(Func<T> make)
    {
        T result = default!;
        ExceptionDispatchInfo? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var ns = File.OpenHandle($"/proc/{Pid}/ns/net");
                if (SetNs((int)ns.DangerousGetHandle(), CLONE_NEWNET) != 0)
                {
                    throw new IOException($"setns(/proc/{Pid}/ns/net) failed: errno {Marshal.GetLastPInvokeError()}");
                }
                result = make();
            }
            catch (Exception e)
            {
                error = ExceptionDispatchInfo.Capture(e);
            }
        }) { Name = $"lab-ns-{Pid}" };
        thread.Start();
        thread.Join();
        error?.Throw();
        return result;
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Kills the holder, which takes the namespace and every interface in it along.</summary>
    protected virtual void Dispose(bool disposing)
    {
        try
        {
            _holder.Kill();
            _holder.WaitForExit();
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        _holder.Dispose();
    }

    /// <summary>The network namespace a process is in, as <c>/proc/PID/ns/net</c> names it (<c>net:[inode]</c>).</summary>
    internal string Namespace => NamespaceOf(Pid);

    private static string NamespaceOf(int pid) => TryNamespaceOf(pid) ?? throw new InvalidOperationException($"no process {pid}");

    internal static string? TryNamespaceOf(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/ns/net").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static extern int SetNs(int fd, int nstype);
}

/// <summary>
/// A site: a namespace whose segment is a Linux bridge (<see cref="Bridge"/>, no multicast snooping, so the segment
/// floods multicast as a plain switch would) and which routes unicast to the other sites over WAN links
/// (<see cref="LabWan"/>). It forwards no multicast: nothing runs a multicast router.
/// <para>
/// Addresses of site N (1..14): IPv4 203.0.113.16·N/28 with the site at .16·N+1 and host H at .16·N+H; IPv6
/// fd00:d9a:16:N::/64 with the site at ::1 and host H at ::H (N and H written as decimal digits, so site 12 is
/// fd00:d9a:16:12::). Every IPv6 address is added with <c>nodad</c>.
/// </para>
/// <para>
/// With snooping off the bridge floods every group to every port and to the site itself, for IPv6 as for IPv4
/// (LabSitesTests carries an ff15:: group between two hosts): no MLD querier is needed, and <c>multicast_router</c>
/// only steers snooped traffic to router ports, so it plays no part. (With snooping on, the bridge forwards a group
/// only to ports whose MLD/IGMP reports it saw; not measured here.)
/// </para>
/// </summary>
public sealed class LabSite : LabNamespace
{
    // Site numbers only need to differ between sites that exist at the same time (and could be linked): a
    // disposed site's number is taken again, so a test run can make any number of sites.
    private static readonly LabNumbers s_numbers = new(14, "site");
    private readonly List<LabWan> _wans = [];
    private int _hosts, _disposed;

    public LabSite()
    {
        try
        {
            Number = s_numbers.Take();
            Exec("ip", "link", "add", Bridge, "type", "bridge", "mcast_snooping", "0");
            Exec("ip", "addr", "add", $"{Router}/28", "dev", Bridge);
            Exec("ip", "-6", "addr", "add", $"{Router6}/64", "dev", Bridge, "nodad");
            Exec("ip", "link", "set", Bridge, "up");
            Sysctl("net/ipv4/ip_forward", "1");
            Sysctl("net/ipv6/conf/all/forwarding", "1");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int Number { get; }
    public string Bridge => "br0";

    /// <summary>The site's own address on its segment (its hosts' gateway).</summary>
    public IPAddress Router => Address(1);

    /// <summary>The site's own IPv6 address on its segment (its hosts' IPv6 gateway).</summary>
    public IPAddress Router6 => Address6(1);

    /// <summary>The site's address on its segment in family <paramref name="f"/>.</summary>
    public IPAddress RouterOf(LabFamily f) => f.IsV6 ? Router6 : Router;

    /// <summary>The segment's prefix, for routes to it.</summary>
    public string Prefix => $"203.0.113.{16 * Number}/28";

    /// <summary>The segment's IPv6 prefix, for routes to it.</summary>
    public string Prefix6 => $"fd00:d9a:16:{Number}::/64";

    internal IPAddress Address(int host) => IPAddress.Parse($"203.0.113.{16 * Number + host}");

    internal IPAddress Address6(int host) => IPAddress.Parse($"fd00:d9a:16:{Number}::{host}");

    /// <summary>A host on the segment (a namespace of its own on a veth whose other end is a bridge port).</summary>
    public LabHost AddHost()
    {
        int n = Interlocked.Increment(ref _hosts) + 1; // .1 is the site's
        if (n > 14) throw new InvalidOperationException($"site {Number}: out of host addresses");
        var host = new LabHost(this, n);
        return host;
    }

    internal void Attach(LabWan wan)
    {
        lock (_wans) _wans.Add(wan);
    }

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        base.Dispose(disposing);
        // The holder took this site's WAN ends along, and a veth pair dies with either end.
        lock (_wans) _wans.ForEach(w => w.Release());
        if (Number != 0) s_numbers.Return(Number);
    }
}

/// <summary>
/// A host on a site's segment: its interface is <see cref="Interface"/> with <see cref="Address"/> and
/// <see cref="Address6"/>, default routes of both families via the site.
/// </summary>
public sealed class LabHost : LabNamespace
{
    internal LabHost(LabSite site, int n)
    {
        Address = site.Address(n);
        Address6 = site.Address6(n);
        string port = $"s{site.Number}h{n}p", inside = $"s{site.Number}h{n}";
        site.Exec("ip", "link", "add", port, "type", "veth", "peer", "name", inside, "netns", Pid.ToString());
        site.Exec("ip", "link", "set", port, "master", site.Bridge);
        site.Exec("ip", "link", "set", port, "up");
        Interface = inside;
        Exec("ip", "addr", "add", $"{Address}/28", "dev", inside);
        Exec("ip", "-6", "addr", "add", $"{Address6}/64", "dev", inside, "nodad");
        Exec("ip", "link", "set", inside, "up");
        Exec("ip", "route", "add", "default", "via", site.Router.ToString());
        Exec("ip", "-6", "route", "add", "default", "via", site.Router6.ToString());
    }

    public IPAddress Address { get; }
    public IPAddress Address6 { get; }

    /// <summary>The host's address in family <paramref name="f"/>.</summary>
    public IPAddress AddressOf(LabFamily f) => f.IsV6 ? Address6 : Address;

    public string Interface { get; }
}

/// <summary>
/// A routed WAN link between two sites, unicast only: link n is the veth pair wan{n}a (at site A) / wan{n}b (at site B)
/// with 192.0.2.4·n+1 / +2 (/30) and fd00:d9a:17:n::1 / ::2 (/64, n in decimal digits); each site routes the other's
/// segment prefixes over it. No multicast crosses it: neither site runs a multicast router.
/// </summary>
public sealed class LabWan
{
    private static readonly LabNumbers s_numbers = new(63, "WAN link");
    private int _released;

    private LabSite? _a, _b;

    private LabWan(int number) => Number = number;

    public int Number { get; }
    /// <summary>The link's interface at site A / site B.</summary>
    public string EndA => $"wan{Number}a";
    public string EndB => $"wan{Number}b";
    public IPAddress AddressA => IPAddress.Parse($"192.0.2.{4 * Number + 1}");
    public IPAddress AddressB => IPAddress.Parse($"192.0.2.{4 * Number + 2}");
    public IPAddress AddressA6 => IPAddress.Parse($"fd00:d9a:17:{Number}::1");
    public IPAddress AddressB6 => IPAddress.Parse($"fd00:d9a:17:{Number}::2");
    private string MacA => $"02:d9:a0:00:{Number:x2}:01";
    private string MacB => $"02:d9:a0:00:{Number:x2}:02";

    /// <summary>Site B's end of the link in family <paramref name="f"/>.</summary>
    public IPAddress AddressBOf(LabFamily f) => f.IsV6 ? AddressB6 : AddressB;

    /// <summary>Links <paramref name="a"/> and <paramref name="b"/> and routes each one's segment to the other.</summary>
    public static LabWan Connect(LabSite a, LabSite b)
    {
        var wan = new LabWan(s_numbers.Take());
        (wan._a, wan._b) = (a, b);
        a.Attach(wan);
        b.Attach(wan);
        a.Exec("ip", "link", "add", wan.EndA, "address", wan.MacA, "type", "veth", "peer", "name", wan.EndB, "address", wan.MacB, "netns", b.Pid.ToString());
        // Static neighbours: measured here, the first neighbour solicitation over a fresh link was often lost, so
        // the first IPv6 datagram over the WAN waited a second for the retry (IPv4 is given the same for symmetry).
        a.Exec("ip", "neigh", "add", wan.AddressB.ToString(), "lladdr", wan.MacB, "dev", wan.EndA, "nud", "permanent");
        b.Exec("ip", "neigh", "add", wan.AddressA.ToString(), "lladdr", wan.MacA, "dev", wan.EndB, "nud", "permanent");
        a.Exec("ip", "-6", "neigh", "add", wan.AddressB6.ToString(), "lladdr", wan.MacB, "dev", wan.EndA, "nud", "permanent");
        b.Exec("ip", "-6", "neigh", "add", wan.AddressA6.ToString(), "lladdr", wan.MacA, "dev", wan.EndB, "nud", "permanent");
        a.Exec("ip", "addr", "add", $"{wan.AddressA}/30", "dev", wan.EndA);
        b.Exec("ip", "addr", "add", $"{wan.AddressB}/30", "dev", wan.EndB);
        a.Exec("ip", "-6", "addr", "add", $"{wan.AddressA6}/64", "dev", wan.EndA, "nodad");
        b.Exec("ip", "-6", "addr", "add", $"{wan.AddressB6}/64", "dev", wan.EndB, "nodad");
        a.Exec("ip", "link", "set", wan.EndA, "up");
        b.Exec("ip", "link", "set", wan.EndB, "up");
        a.Exec("ip", "route", "add", b.Prefix, "via", wan.AddressB.ToString());
        b.Exec("ip", "route", "add", a.Prefix, "via", wan.AddressA.ToString());
        a.Exec("ip", "-6", "route", "add", b.Prefix6, "via", wan.AddressB6.ToString());
        b.Exec("ip", "-6", "route", "add", a.Prefix6, "via", wan.AddressA6.ToString());
        return wan;
    }

    /// <summary>
    /// Cuts the link: each site discards what it would route over it, both families, without a word (blackhole routes).
    /// Taking an end down would cut it too, but would also flush its IPv6 address and every route over it.
    /// </summary>
    public void Cut() => Route("blackhole");

    /// <summary>Restores a cut link: each site routes the other's segment over it again.</summary>
    public void Restore() => Route("via");

    private void Route(string how)
    {
        foreach (var (from, to, via, via6) in new[] { (_a!, _b!, AddressB, AddressB6), (_b!, _a!, AddressA, AddressA6) })
        {
            from.Exec(how == "via" ? ["ip", "route", "replace", to.Prefix, "via", via.ToString()] : ["ip", "route", "replace", "blackhole", to.Prefix]);
            from.Exec(how == "via" ? ["ip", "-6", "route", "replace", to.Prefix6, "via", via6.ToString()] : ["ip", "-6", "route", "replace", "blackhole", to.Prefix6]);
        }
    }

    /// <summary>The link is gone (one of its sites was disposed): its number may be taken again.</summary>
    internal void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) s_numbers.Return(Number);
    }
}

/// <summary>Lab numbers 1..max, each held by one object at a time and given back when it goes.</summary>
internal sealed class LabNumbers(int max, string what)
{
    private readonly bool[] _taken = new bool[max + 1];

    public int Take()
    {
        lock (_taken)
        {
            for (int n = 1; n <= max; n++)
            {
                if (_taken[n]) continue;
                _taken[n] = true;
                return n;
            }
        }
        throw new InvalidOperationException($"out of lab {what} numbers: all {max} are in use");
    }

    public void Return(int n)
    {
        lock (_taken) _taken[n] = false;
    }
}
