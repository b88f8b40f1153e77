using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Dgram.Sample;

/// <summary>
/// A network namespace a thread of its own enters (setns) to run something: a socket made there stays in it, and
/// interface names are looked up in the calling thread's namespace, so choosing an interface by name belongs there too.
/// </summary>
internal sealed class NetNamespace(string? path)
{
    private const int CLONE_NEWNET = 0x40000000;

    /// <summary>This process's own namespace: runs in place.</summary>
    public static readonly NetNamespace Current = new(null);

    public T Run<T>(Func<T> work)
    {
        if (path is null) return work();
        T result = default!;
        ExceptionDispatchInfo? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var ns = File.OpenHandle(path);
                if (SetNs((int)ns.DangerousGetHandle(), CLONE_NEWNET) != 0) throw new IOException($"setns({path}) failed: errno {Marshal.GetLastPInvokeError()}");
                result = work();
            }
            catch (Exception e)
            {
                error = ExceptionDispatchInfo.Capture(e);
            }
        }) { Name = "netns " + path };
        thread.Start();
        thread.Join();
        error?.Throw();
        return result;
    }

    public void Run(Action work) => Run(() =>
    {
        work();
        return 0;
    });

    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static extern int SetNs(int fd, int nstype);
}

/// <summary>
/// The two sites lab/sites.sh built around this process (which runs on site B's receiver host): site A's publisher
/// namespace, the bridge nodes (their current pid and their log, one per supervisor incarnation) and the WAN.
/// </summary>
internal sealed class Sites
{
    private readonly string _dir;

    private Sites(string dir, Dictionary<string, string> env)
    {
        _dir = dir;
        string Key(string k) => env.TryGetValue(k, out string? v) ? v : throw new InvalidDataException($"{Path.Combine(dir, "sites.env")}: no {k}=");
        Publishers = new NetNamespace($"/proc/{int.Parse(Key("publisher_pid"), CultureInfo.InvariantCulture)}/ns/net");
        NodesA = [.. Key("nodes_a").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(n => new BridgeNode(dir, n))];
        NodesB = [.. Key("nodes_b").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(n => new BridgeNode(dir, n))];
    }

    /// <summary>Site A's publisher host: the publishers' sockets are made there.</summary>
    public NetNamespace Publishers { get; }
    public IReadOnlyList<BridgeNode> NodesA { get; }
    public IReadOnlyList<BridgeNode> NodesB { get; }

    public static Sites Open(string dir) => new(dir, File.ReadAllLines(Path.Combine(dir, "sites.env"))
        .Where(l => l.Contains('=', StringComparison.Ordinal) && !l.StartsWith('#'))
        .ToDictionary(l => l[..l.IndexOf('=', StringComparison.Ordinal)], l => l[(l.IndexOf('=', StringComparison.Ordinal) + 1)..]));

    /// <summary>Cuts (blackhole routes both ways) or restores the WAN between the sites.</summary>
    public void Wan(string how)
    {
        var psi = new ProcessStartInfo(Path.Combine(_dir, "wan"), [how]) { RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"wan {how}: {err.Trim()}");
    }

    /// <summary>Restarts of every node by its supervisor (after a kill or a downing).</summary>
    public int NodeRestarts => NodesA.Concat(NodesB).Sum(n => n.Incarnations - 1);

    /// <summary>The re-emitters' loss counters (gaps in the origins' sequences): the latest line per group of each site B node.</summary>
    public long BridgeLost => NodesB.Sum(n => n.LatestEmitterCounters().Sum(c => c.Lost));
}

/// <summary>A bridge node as its supervisor in lab/sites.sh runs it: NAME.pid (the current incarnation) and NAME.log.</summary>
internal sealed partial class BridgeNode(string dir, string name)
{
    private const string Incarnation = "supervisor: incarnation";

    public string Name { get; } = name;

    /// <summary>How many times its supervisor started it.</summary>
    public int Incarnations => Lines().Count(l => l.StartsWith(Incarnation, StringComparison.Ordinal));

    /// <summary>The current incarnation is a member of its site's cluster.</summary>
    public bool IsUp => Current().Any(l => l.Contains("bridge-node: member up", StringComparison.Ordinal));

    /// <summary>The current incarnation runs the site's ingress (the singleton started here).</summary>
    public bool RunsIngress => Current().Any(l => l.Contains("bridge: ingress started", StringComparison.Ordinal));

    /// <summary>SIGKILL to the current incarnation: no leave, no goodbye; the others detect it.</summary>
    public int Kill()
    {
        int pid = int.Parse(File.ReadAllText(Path.Combine(dir, Name + ".pid")).Trim(), CultureInfo.InvariantCulture);
        using var p = Process.GetProcessById(pid);
        p.Kill();
        return pid;
    }

    /// <summary>Per group, the current incarnation's latest emitter counter line.</summary>
    public IEnumerable<(string Group, long Lost)> LatestEmitterCounters() => Current()
        .Select(l => EmitterCounters().Match(l)).Where(m => m.Success)
        .GroupBy(m => m.Groups[1].Value).Select(g => (g.Key, long.Parse(g.Last().Groups[2].Value, CultureInfo.InvariantCulture)));

    private IEnumerable<string> Current()
    {
        List<string> lines = Lines();
        int start = lines.FindLastIndex(l => l.StartsWith(Incarnation, StringComparison.Ordinal));
        return lines.Skip(Math.Max(0, start));
    }

    private List<string> Lines()
    {
        // The node appends while this reads: share the file both ways.
        using var stream = new FileStream(Path.Combine(dir, Name + ".log"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line) lines.Add(line);
        return lines;
    }

    [GeneratedRegex(@"bridge: emitter group=(\S+) .*\blost=(\d+)")]
    private static partial Regex EmitterCounters();
}

/// <summary>
/// The faults across sites: a hard kill of the node running site A's ingress, then a WAN cut. Each window opens just
/// before its fault, at the first datagram not yet delivered (the bridge holds datagrams in flight: its ingress's
/// batch, the link; a fault loses those too), and closes when recovery is observed: for the kill, the killed node a
/// member again (its supervisor restarted it) and every stream steady after that; for the cut, every stream steady
/// after the routes came back.
/// Steady: <see cref="SteadyRun"/> consecutive datagrams arrived (a first datagram may still be followed by a loss
/// while the bridge's window reopens). Recovery not seen within <see cref="Recovery"/> leaves the window open: the run fails.
/// </summary>
internal static class SiteFaults
{
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(45), WanCut = TimeSpan.FromSeconds(3);

    public static async Task Run(Sites sites, FaultLog faults, IReadOnlyList<Publisher> publishers, IReadOnlyList<(int Publisher, Arrivals Arrivals)> streams,
        TimeSpan duration, Stopwatch clock, int rate, ILogger log)
    {
        int steady = Math.Max(50, rate / 2);
        await Task.Delay(duration / 3);
        if (!await KillIngressNode(sites, faults, publishers, streams, steady, log)) return;
        if (duration * 2 / 3 > clock.Elapsed) await Task.Delay(duration * 2 / 3 - clock.Elapsed);
        await CutWan(sites, faults, publishers, streams, steady, log);
    }

    private static async Task<bool> KillIngressNode(Sites sites, FaultLog faults, IReadOnlyList<Publisher> publishers,
        IReadOnlyList<(int Publisher, Arrivals Arrivals)> streams, int steady, ILogger log)
    {
        BridgeNode[] holders = [.. sites.NodesA.Where(n => n.RunsIngress)];
        if (holders.Length != 1)
        {
            log.LogWarning("Cannot tell which node of site a runs its ingress ({Count} say they do): the kill is skipped", holders.Length);
            return true;
        }
        BridgeNode target = holders[0];
        int incarnations = target.Incarnations;
        FaultWindow window = faults.Begin($"hard kill of {target.Name}, site a's ingress node", socket: null, Delivered(publishers, streams));
        var clock = Stopwatch.StartNew();
        int pid = target.Kill();
        log.LogInformation("Fault injected on purpose: killed {Node} (pid {Pid}, SIGKILL), the node running site a's ingress; its supervisor starts it again", target.Name, pid);
        if (!await Until(() => sites.NodesA.Any(n => n != target && n.RunsIngress))) return false;
        log.LogInformation("Site a's ingress runs on {Node} {Elapsed} ms after the kill", sites.NodesA.First(n => n != target && n.RunsIngress).Name, clock.ElapsedMilliseconds);
        if (!await Until(() => target.Incarnations > incarnations && target.IsUp)) return false;
        log.LogInformation("{Node} is a member of site a again {Elapsed} ms after the kill", target.Name, clock.ElapsedMilliseconds);
        return await Steady(faults, window, publishers, streams, steady);
    }

    private static async Task CutWan(Sites sites, FaultLog faults, IReadOnlyList<Publisher> publishers,
        IReadOnlyList<(int Publisher, Arrivals Arrivals)> streams, int steady, ILogger log)
    {
        FaultWindow window = faults.Begin($"WAN cut for {WanCut.TotalSeconds:F0} s", socket: null, Delivered(publishers, streams));
        sites.Wan("cut");
        log.LogInformation("Fault injected on purpose: the WAN between the sites is cut (blackhole routes both ways) for {Seconds} s", WanCut.TotalSeconds);
        await Task.Delay(WanCut); // the outage lasts this long: there is nothing to wait for
        sites.Wan("restore");
        log.LogInformation("The WAN is restored");
        await Steady(faults, window, publishers, streams, steady);
    }

    /// <summary>Per publisher, the last datagram every one of its streams had received.</summary>
    private static long[] Delivered(IReadOnlyList<Publisher> publishers, IReadOnlyList<(int Publisher, Arrivals Arrivals)> streams) =>
        [.. publishers.Select((_, i) => streams.Where(s => s.Publisher == i).Select(s => s.Arrivals.Highest).DefaultIfEmpty(publishers[i].LastSequence).Min())];

    /// <summary>Closes the window once every stream had <paramref name="run"/> consecutive datagrams sent after now.</summary>
    private static async Task<bool> Steady(FaultLog faults, FaultWindow window, IReadOnlyList<Publisher> publishers,
        IReadOnlyList<(int Publisher, Arrivals Arrivals)> streams, int run)
    {
        long[] now = [.. publishers.Select(p => p.LastSequence)];
        if (!await Until(() => streams.All(s => s.Arrivals.SteadyAfter(now[s.Publisher], run)))) return false;
        faults.End(window);
        return true;
    }

    private static async Task<bool> Until(Func<bool> done)
    {
        // The nodes' logs and the arrivals have no events to wait on: poll them.
        for (var clock = Stopwatch.StartNew(); !done();)
        {
            if (clock.Elapsed > Recovery) return false;
            await Task.Delay(50);
        }
        return true;
    }
}

/// <summary>Before the run across sites: the bridge's path from every publisher to every socket is up.</summary>
internal static class SitesWarmUp
{
    /// <summary>
    /// Sends a warm-up datagram from every publisher every 100 ms until every socket got one (the singletons started,
    /// the sites' clients connected): a datagram sent before that would be lost outside every window. False when
    /// <paramref name="bound"/> passed first.
    /// </summary>
    public static async Task<bool> Run(IReadOnlyList<Publisher> publishers, IReadOnlyList<StreamTracker> trackers, TimeSpan bound)
    {
        for (var clock = Stopwatch.StartNew(); !trackers.All(t => t.Reached);)
        {
            if (clock.Elapsed > bound) return false;
            foreach (Publisher p in publishers) p.SendWarmUp();
            await Task.Delay(100);
        }
        return true;
    }
}
