using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Docs;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Cluster;

/// <summary>
/// Tests that run bridge nodes run alone: each starts up to 6 node processes, and their failure detection (a node
/// silent for ~1.5 s is unreachable) must not read the rest of the suite's load on 2 cores as a dead node.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BridgeNodesCollection
{
    public const string Name = "Bridge nodes (processes, failure detection)";
}

/// <summary>
/// Sites bridged by real bridge nodes (issue 16, item 9): each site a <see cref="LabSite"/> (its segment a Linux bridge),
/// full-mesh WAN links between the sites, and on each segment the site's nodes (the built <c>samples/Dgram.Bridge</c>,
/// each a process in a namespace of its own, restarted when it exits by itself), a publisher and a receiver made of
/// plain sockets, never the bridge. Node i of a site is its host .i+2; the publisher and the receiver come after.
/// </summary>
internal sealed class BridgeLab : IDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly string Configuration = typeof(BridgeLab).Assembly.Location.Contains("/Debug/", StringComparison.Ordinal) ? "Debug" : "Release";
    private readonly ITestOutputHelper _output;
    private readonly string _dir = Directory.CreateTempSubdirectory("bridge-lab-").FullName;
    private readonly List<IDisposable> _owned = [];
    private readonly int _window;

    /// <param name="nodes">Nodes per site (the length is the number of sites).</param>
    /// <param name="groups">Each site's <c>Groups</c> entries (anonymous objects, serialized as the node's JSON).</param>
    /// <param name="window">The bridge's <c>MaxInFlightEnvelopes</c> (its default when null).</param>
    public BridgeLab(ITestOutputHelper output, int[] nodes, Func<Site, object[]> groups, LabFamily? family = null, int? window = null)
    {
        _output = output;
        Family = family ?? LabFamily.V4;
        _window = window ?? new Dgram.Cluster.BridgeSettings { Site = "", Interface = "" }.MaxInFlightEnvelopes;
        for (int s = 0; s < nodes.Length; s++)
        {
            var lab = Own(new LabSite());
            var site = new Site(this, lab, "s" + (char)('a' + s));
            for (int i = 0; i < nodes[s]; i++) site.Nodes.Add(new Node(site, Own(lab.AddHost())));
            site.Publisher = Own(lab.AddHost());
            site.Receiver = Own(lab.AddHost());
            Sites.Add(site);
        }
        for (int a = 0; a < Sites.Count; a++)
        {
            for (int b = a + 1; b < Sites.Count; b++) Wans.Add(LabWan.Connect(Sites[a].Lab, Sites[b].Lab));
        }
        foreach (Site site in Sites)
        {
            foreach (Node node in site.Nodes) node.WriteConfig(groups(site));
        }
    }

    public LabFamily Family { get; }
    public List<Site> Sites { get; } = [];
    public List<LabWan> Wans { get; } = [];

    public static string NodeDll
    {
        get
        {
            string dll = Path.Combine(ReadmeTests.RepositoryRoot(), "samples", "Dgram.Bridge", "bin", Configuration, "net10.0", "Dgram.Bridge.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException("build the solution first: the bridge node is missing", dll);
        }
    }

    /// <summary>Starts every node (each site's first node first, so it is the oldest) and waits until every site's bridge is up.</summary>
    public async Task StartAsync()
    {
        foreach (Site site in Sites) site.Nodes[0].Start();
        foreach (Site site in Sites) await site.Nodes[0].WaitAsync(MemberUp);
        foreach (Site site in Sites)
        {
            foreach (Node node in site.Nodes.Skip(1)) node.Start();
        }
        foreach (Site site in Sites)
        {
            foreach (Node node in site.Nodes.Skip(1)) await node.WaitAsync(MemberUp);
        }
    }

    public static readonly Regex MemberUp = new("bridge-node: member up", RegexOptions.Compiled);

    /// <summary>A pattern for the bridge's counter line of <paramref name="role"/> (ingress or emitter) and a group.</summary>
    public static Regex Stats(string role, string group) => new($@"bridge: {role} group={Regex.Escape(group)} .*");

    /// <summary>The value of <paramref name="counter"/> in a counter line.</summary>
    public static long Counter(string line, string counter) => long.Parse(Regex.Match(line, $@"\b{counter}=(\d+)").Groups[1].Value);

    public T Own<T>(T d) where T : IDisposable
    {
        _owned.Add(d);
        return d;
    }

    public void Dispose()
    {
        // Nodes first (their processes hold sockets in the hosts), then the hosts and sites, newest first.
        foreach (Node node in Sites.SelectMany(s => s.Nodes)) node.Process?.Dispose();
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    internal sealed class Site(BridgeLab lab, LabSite site, string name)
    {
        public BridgeLab Owner { get; } = lab;
        public LabSite Lab { get; } = site;
        public string Name { get; } = name;
        public List<Node> Nodes { get; } = [];
        public LabHost Publisher { get; set; } = null!;
        public LabHost Receiver { get; set; } = null!;

        public IPAddress[] NodeAddresses => Nodes.Select(n => n.Host.AddressOf(Owner.Family)).ToArray();

        /// <summary>A socket on the receiver host joined to <paramref name="group"/> (source-specific to <paramref name="sources"/> when given).</summary>
        public DatagramSocket Receive(IPAddress group, int port, params IPAddress[] sources) => Receive(Receiver, group, port, sources);

        public DatagramSocket Receive(LabHost host, IPAddress group, int port, params IPAddress[] sources) => Owner.Own(host.In(() =>
        {
            var s = DatagramSocket.Create(group.AddressFamily, new DatagramSocketOptions { ReceiveMetadata = ReceiveMetadata.PacketInfo | ReceiveMetadata.HopLimit });
            s.SetReceiveBufferSize(4 << 20); // tests read after a burst: room for all of it
            s.Bind(new IPEndPoint(group.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, port), AddressReuse.ReuseAddress);
            if (sources.Length == 0) s.JoinGroup(group, host.Interface);
            foreach (IPAddress source in sources) s.JoinSourceGroup(group, source, host.Interface);
            return s;
        }));

        /// <summary>A socket on <paramref name="host"/> (the publisher by default) sending to groups out of its segment interface, TTL 1.</summary>
        public DatagramSocket Sender(LabHost? host = null)
        {
            host ??= Publisher;
            return Owner.Own(host.In(() =>
            {
                var s = DatagramSocket.Create(Owner.Family.Family);
                s.Bind(new IPEndPoint(host.AddressOf(Owner.Family), 0));
                s.SetMulticastInterface(host.Interface);
                s.SetMulticastTtl(1); // the segment only: what reaches another site, the bridge carried
                return s;
            }));
        }
    }

    internal sealed class Node(Site site, LabHost host)
    {
        private string _config = "";

        public Site Site { get; } = site;
        public LabHost Host { get; } = host;
        public LabProcess? Process { get; private set; }

        /// <summary>The node's Akka address: the cluster runs over IPv4 whatever family the groups are.</summary>
        public string Address => $"akka.tcp://dgram@{Host.Address}:4053";

        public void WriteConfig(object[] groups)
        {
            var lab = Site.Owner;
            var json = new
            {
                Node = new { Hostname = Host.Address.ToString(), Port = 4053, SeedNodes = Site.Nodes.Select(n => n.Address).ToArray() },
                DgramBridge = new
                {
                    Site = Site.Name,
                    Interface = Host.Interface,
                    EmitterAddresses = Site.Nodes.SelectMany(n => new[] { n.Host.Address.ToString(), n.Host.Address6.ToString() }).ToArray(),
                    Peers = lab.Sites.Where(s => s != Site).ToDictionary(s => s.Name, s => s.Nodes.Select(n => n.Address).ToArray()),
                    Groups = groups,
                    StatsInterval = "00:00:00.200",
                    MaxInFlightEnvelopes = lab._window,
                },
            };
            _config = Path.Combine(lab._dir, $"{Site.Name}-{Host.Interface}.json");
            File.WriteAllText(_config, JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
        }

        /// <summary>Starts the node under a supervisor that starts it again when it exits by itself (downed).</summary>
        public void Start() => Process = new LabProcess(Host, Site.Owner._output, ["dotnet", NodeDll, "--config", _config], restartDelay: TimeSpan.FromMilliseconds(200));

        public Task<string> WaitAsync(Regex line, long since = 0, TimeSpan? timeout = null) => Process!.WaitForLine(line, since, timeout ?? StartTimeout);

        /// <summary>The first counter line of <paramref name="role"/> for <paramref name="group"/> that <paramref name="ok"/> accepts (they come every 200 ms while counters change).</summary>
        public async Task<string> WaitForStatsAsync(string role, string group, Func<string, bool> ok)
        {
            for (long since = 0; ;)
            {
                LabLine line = await Process!.WaitFor(Stats(role, group), since, StartTimeout);
                if (ok(line.Text)) return line.Text;
                since = line.Number + 1;
            }
        }
    }

    /// <summary>The datagram's text.</summary>
    public static string Text(byte[] buffer, ReceiveResult r) => Encoding.UTF8.GetString(buffer, 0, r.BytesReceived);

    public static void Send(DatagramSocket s, IPAddress group, int port, string text)
    {
        SendResult r = s.SendTo(Encoding.UTF8.GetBytes(text), new IPEndPoint(group, port), TimeSpan.FromSeconds(5));
        Assert.True(r.Status == SendStatus.Sent, $"send of '{text}' to {group}:{port}: {r}");
    }

    /// <summary>
    /// Sends "warm-N" from <paramref name="from"/>'s publisher every 100 ms until a receiver of its own on
    /// <paramref name="to"/>'s segment gets one: the bridge's path between the two is up (singletons started,
    /// ClusterClients connected). Sockets the test makes after it see none of the warm-up.
    /// </summary>
    public async Task WarmUpAsync(Site from, Site to, IPAddress group, int port)
    {
        using DatagramSocket receiver = to.Receive(group, port);
        _owned.Remove(receiver);
        using DatagramSocket sender = from.Sender();
        _owned.Remove(sender);
        var buffer = new byte[65_536];
        var clock = Stopwatch.StartNew();
        for (int n = 0; ; n++)
        {
            Assert.True(clock.Elapsed < StartTimeout, $"the bridge did not carry {group}:{port} from {from.Name} to {to.Name} within {StartTimeout}");
            Send(sender, group, port, "warm-" + n);
            ReceiveResult r = await Task.Run(() => receiver.ReceiveFrom(buffer, out _, TimeSpan.FromMilliseconds(100)));
            if (r.Status == ReceiveStatus.Received) return;
        }
    }

}
