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
        GC.SuppressFinalize(this);
    }

    private static string NamespaceOf(int pid) => TryNamespaceOf(pid) ?? throw new InvalidOperationException($"no process {pid}");

    private static string? TryNamespaceOf(int pid)
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
/// A site: a namespace whose segment is a Linux bridge (<see cref="Bridge"/>, 203.0.113.16·N+1/28, no multicast
/// snooping, so the segment floods multicast as a plain switch would) and which routes unicast to the other sites
/// over WAN links (<see cref="LabWan"/>). It forwards no multicast: nothing runs a multicast router.
/// </summary>
public sealed class LabSite : LabNamespace
{
    private static int s_next;
    private int _hosts;

    public LabSite()
    {
        Number = Interlocked.Increment(ref s_next);
        if (Number > 14) throw new InvalidOperationException("out of lab site numbers");
        Exec("ip", "link", "add", Bridge, "type", "bridge", "mcast_snooping", "0");
        Exec("ip", "addr", "add", $"{Router}/28", "dev", Bridge);
        Exec("ip", "link", "set", Bridge, "up");
        Sysctl("net/ipv4/ip_forward", "1");
    }

    public int Number { get; }
    public string Bridge => "br0";

    /// <summary>The site's own address on its segment (its hosts' gateway).</summary>
    public IPAddress Router => Address(1);

    /// <summary>The segment's prefix, for routes to it.</summary>
    public string Prefix => $"203.0.113.{16 * Number}/28";

    internal IPAddress Address(int host) => IPAddress.Parse($"203.0.113.{16 * Number + host}");

    /// <summary>A host on the segment (a namespace of its own on a veth whose other end is a bridge port).</summary>
    public LabHost AddHost()
    {
        int n = Interlocked.Increment(ref _hosts) + 1; // .1 is the site's
        if (n > 14) throw new InvalidOperationException($"site {Number}: out of host addresses");
        var host = new LabHost(this, n);
        return host;
    }
}

/// <summary>A host on a site's segment: its interface is <see cref="Interface"/> with <see cref="Address"/>, default route via the site.</summary>
public sealed class LabHost : LabNamespace
{
    internal LabHost(LabSite site, int n)
    {
        Address = site.Address(n);
        string port = $"s{site.Number}h{n}p", inside = $"s{site.Number}h{n}";
        site.Exec("ip", "link", "add", port, "type", "veth", "peer", "name", inside, "netns", Pid.ToString());
        site.Exec("ip", "link", "set", port, "master", site.Bridge);
        site.Exec("ip", "link", "set", port, "up");
        Interface = inside;
        Exec("ip", "addr", "add", $"{Address}/28", "dev", inside);
        Exec("ip", "link", "set", inside, "up");
        Exec("ip", "route", "add", "default", "via", site.Router.ToString());
    }

    public IPAddress Address { get; }
    public string Interface { get; }
}

/// <summary>Routed WAN links between sites (192.0.2.4·N/30): unicast only; each site routes the other's segment over it.</summary>
public static class LabWan
{
    private static int s_next;

    public static void Connect(LabSite a, LabSite b)
    {
        int n = Interlocked.Increment(ref s_next);
        if (n > 63) throw new InvalidOperationException("out of lab WAN link numbers");
        IPAddress atA = IPAddress.Parse($"192.0.2.{4 * n + 1}"), atB = IPAddress.Parse($"192.0.2.{4 * n + 2}");
        string endA = $"wan{n}a", endB = $"wan{n}b";
        a.Exec("ip", "link", "add", endA, "type", "veth", "peer", "name", endB, "netns", b.Pid.ToString());
        a.Exec("ip", "addr", "add", $"{atA}/30", "dev", endA);
        b.Exec("ip", "addr", "add", $"{atB}/30", "dev", endB);
        a.Exec("ip", "link", "set", endA, "up");
        b.Exec("ip", "link", "set", endB, "up");
        a.Exec("ip", "route", "add", b.Prefix, "via", atB.ToString());
        b.Exec("ip", "route", "add", a.Prefix, "via", atA.ToString());
    }
}
