using System.Net;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Cluster;

/// <summary>
/// The bridge across sites (issue 16, items 2–5 and 9), with real nodes in namespaced sites and plain sockets on the
/// segments. What each test asserts on: the datagrams a receiver on a site's segment gets (text, order, source
/// address, the hop limit the kernel reports), markers sent after the data to prove that nothing else comes, and
/// the counters the nodes log (lost, duplicates).
/// </summary>
[Collection(BridgeNodesCollection.Name)]
[Trait("Area", "Cluster")]
public sealed class BridgeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Arrival = TimeSpan.FromSeconds(10);

    public static TheoryData<string> Families() => ["IPv4", "IPv6"];

    internal static LabFamily Family(string name) => name == "IPv6" ? LabFamily.V6 : LabFamily.V4;

    internal static object Group(string name, IPAddress group, int port, int ttl = 1, IPAddress[]? sources = null, bool ingress = true, bool emit = true) =>
        new { Name = name, Group = group.ToString(), Port = port, Ttl = ttl, Sources = (sources ?? []).Select(s => s.ToString()).ToArray(), Ingress = ingress, Emit = emit };

    /// <summary>Receives until <paramref name="last"/> arrives; returns what came before it (warm-up stragglers left out).</summary>
    internal static List<(string Text, IPAddress Source, int HopLimit)> ReceiveUntil(DatagramSocket s, string last)
    {
        var got = new List<(string, IPAddress, int)>();
        var buffer = new byte[65_536];
        while (true)
        {
            ReceiveResult r = s.ReceiveFrom(buffer, out EndPoint? from, Arrival);
            Assert.True(r.Status == ReceiveStatus.Received, $"waiting for '{last}' after {got.Count} datagrams ({string.Join(", ", got.TakeLast(5))}): {r}");
            string text = BridgeLab.Text(buffer, r);
            if (text == last) return got;
            if (!text.StartsWith("warm-", StringComparison.Ordinal)) got.Add((text, ((IPEndPoint)from!).Address, r.HopLimit));
        }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public async Task TwoSites_CarryAGroup_InOrder_Once_FromTheEmitter_WithItsTtl_AndNothingComesBack(string familyName)
    {
        LabFamily family = Family(familyName);
        IPAddress group = family.NewGroup();
        int port = LabNet.NextPort();
        using var lab = new BridgeLab(output, [1, 1], site => [Group("g", group, port, ttl: site.Name == "sa" ? 3 : 2)], family);
        BridgeLab.Site a = lab.Sites[0], b = lab.Sites[1];
        await lab.StartAsync();
        await lab.WarmUpAsync(a, b, group, port);
        await lab.WarmUpAsync(b, a, group, port);
        DatagramSocket atA = a.Receive(group, port), atB = b.Receive(group, port);
        DatagramSocket fromA = a.Sender(), fromB = b.Sender();

        string[] sent = Enumerable.Range(0, 200).Select(i => $"d-{i}").ToArray();
        foreach (string text in sent) BridgeLab.Send(fromA, group, port, text);
        BridgeLab.Send(fromA, group, port, "end-a");
        var atBGot = ReceiveUntil(atB, "end-a");
        Assert.Equal(sent, atBGot.Select(d => d.Text));
        Assert.All(atBGot, d => Assert.Contains(d.Source, b.NodeAddresses)); // re-emitted by site b's bridge
        Assert.All(atBGot, d => Assert.Equal(2, d.HopLimit));                // with site b's TTL

        // Site b's marker takes the path a copy sent back to a would take (b's ingress, a's re-emitter): before it,
        // a's receiver has only what a's publisher sent on a's own segment.
        BridgeLab.Send(fromB, group, port, "end-b");
        var atAGot = ReceiveUntil(atA, "end-b");
        Assert.Equal([.. sent, "end-a"], atAGot.Select(d => d.Text));
        Assert.All(atAGot, d => Assert.Equal(a.Publisher.AddressOf(family), d.Source));

        string counters = await b.Nodes[0].WaitForStatsAsync("emitter", "g", l => BridgeLab.Counter(l, "emitted") >= sent.Length + 1);
        Assert.Equal((0L, 0L), (BridgeLab.Counter(counters, "lost"), BridgeLab.Counter(counters, "duplicates")));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public async Task ASourceSpecificGroup_IngressTakesOnlyItsSources_RemoteConsumersJoinTheSitesBridgeNodes(string familyName)
    {
        LabFamily family = Family(familyName);
        IPAddress group = family.NewSsmGroup();
        int port = LabNet.NextPort();
        IPAddress? source = null;
        using var lab = new BridgeLab(output, [1, 1], site => site.Name == "sa"
            ? [Group("ssm", group, port, sources: [source ??= site.Publisher.AddressOf(family)], emit: false)]
            : [Group("ssm", group, port, ingress: false)], family);
        BridgeLab.Site a = lab.Sites[0], b = lab.Sites[1];
        await lab.StartAsync();
        await lab.WarmUpAsync(a, b, group, port);
        DatagramSocket atB = b.Receive(group, port, b.NodeAddresses); // (S, G) for every node that may re-emit
        DatagramSocket fromSource = a.Sender(), fromOther = a.Sender(a.Receiver);

        BridgeLab.Send(fromOther, group, port, "not-a-source");
        BridgeLab.Send(fromSource, group, port, "from-the-source");
        Assert.Empty(ReceiveUntil(atB, "from-the-source"));
    }

    [Fact]
    public async Task ThreeSites_FullMesh_EachDatagramArrivesOncePerSite_NoLoops()
    {
        IPAddress group = LabFamily.V4.NewGroup();
        int port = LabNet.NextPort();
        using var lab = new BridgeLab(output, [1, 1, 1], _ => [Group("mesh", group, port)]);
        await lab.StartAsync();
        foreach (var from in lab.Sites)
        {
            foreach (var to in lab.Sites.Where(s => s != from)) await lab.WarmUpAsync(from, to, group, port);
        }
        var receivers = lab.Sites.Select(s => s.Receive(group, port)).ToArray();
        var senders = lab.Sites.Select(s => s.Sender()).ToArray();

        for (int i = 0; i < 100; i++)
        {
            for (int s = 0; s < senders.Length; s++) BridgeLab.Send(senders[s], group, port, $"{lab.Sites[s].Name}-{i}");
        }
        for (int s = 0; s < senders.Length; s++) BridgeLab.Send(senders[s], group, port, $"end-{lab.Sites[s].Name}");
        var firstRound = receivers.Select(r => Collect(r, lab.Sites.Select(s => $"end-{s.Name}"))).ToArray();
        // Every re-emission has happened (every receiver saw everything): a copy bridged a second time would now be in
        // some ingress's stream ahead of that site's final marker.
        for (int s = 0; s < senders.Length; s++) BridgeLab.Send(senders[s], group, port, $"final-{lab.Sites[s].Name}");
        var secondRound = receivers.Select(r => Collect(r, lab.Sites.Select(s => $"final-{s.Name}"))).ToArray();

        for (int r = 0; r < receivers.Length; r++)
        {
            foreach (var site in lab.Sites)
            {
                string[] expected = Enumerable.Range(0, 100).Select(i => $"{site.Name}-{i}").ToArray();
                Assert.Equal(expected, firstRound[r].Where(t => t.StartsWith(site.Name + "-", StringComparison.Ordinal))); // once each, in order
            }
            Assert.Equal(300, firstRound[r].Count);
            Assert.Empty(secondRound[r]);
        }
    }

    /// <summary>Every text until each of <paramref name="markers"/> has arrived (markers left out).</summary>
    internal static List<string> Collect(DatagramSocket s, IEnumerable<string> markers)
    {
        var waiting = markers.ToHashSet();
        var got = new List<string>();
        var buffer = new byte[65_536];
        while (waiting.Count > 0)
        {
            ReceiveResult r = s.ReceiveFrom(buffer, out _, Arrival);
            Assert.True(r.Status == ReceiveStatus.Received, $"waiting for {string.Join(", ", waiting)} after {got.Count} datagrams: {r}");
            string text = BridgeLab.Text(buffer, r);
            if (!waiting.Remove(text) && !text.StartsWith("warm-", StringComparison.Ordinal)) got.Add(text);
        }
        return got;
    }
}
