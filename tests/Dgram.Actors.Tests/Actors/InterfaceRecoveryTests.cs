using System.Diagnostics;
using System.Net;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Dgram.Actors.Tests.Sockets;
using Xunit;
using Xunit.Abstractions;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Tests.Actors;

/// <summary>
/// An interface deleted and re-created with the same name: /proc forgets the membership, the socket
/// keeps a stale entry under the old index; the actor marks the membership pending, drops the stale
/// entry, and rejoins on the new index when the interface returns. Each test makes its own veth pair.
/// </summary>
public abstract class InterfaceRecoveryTests : ActorTestBase
{
    private readonly LabFamily _f;
    private readonly ITestOutputHelper _output;

    protected InterfaceRecoveryTests(LabFamily family, ITestOutputHelper output) : base(output)
    {
        _f = family;
        _output = output;
    }

    [Fact]
    public async Task InterfaceDeletedAndRecreated_MembershipPendingThenRestoredOnTheNewIndex()
    {
        using var link = new LabLink();
        IPAddress group = _f.NewGroup(), ssm = _f.NewSsmGroup();
        var (client, port) = await StartReceiver(_f);
        var probe = CreateTestProbe();
        await client.SubscribeAsync(probe);
        await client.JoinGroupAsync(group, link.A);
        await client.JoinSourceGroupAsync(ssm, link.SourceB(_f), link.A);
        int oldIndex = LabNet.Index(link.A);
        Assert.Contains(group, KernelTables.Groups(_f, oldIndex));
        Assert.Equal(1, KernelTables.SourceFilter(_f, oldIndex, ssm, link.SourceB(_f))?.Include);

        link.Delete();
        FishForEach(probe, Arrival, m => m is InterfaceChanged { Change: InterfaceChange.Gone } c && c.Interface == link.A && c.Index == oldIndex,
            m => m is MembershipPending);
        await AwaitAssertAsync(async () => Assert.All((await client.GetStateAsync()).Memberships, m => Assert.Equal(MembershipStatus.Pending, m.Status)), Arrival);

        var clock = Stopwatch.StartNew();
        link.Create();
        int newIndex = LabNet.Index(link.A);
        Assert.NotEqual(oldIndex, newIndex);
        FishForEach(probe, TimeSpan.FromSeconds(10),
            m => m is InterfaceChanged { Change: InterfaceChange.Recreated } c && c.Interface == link.A && c.Index == newIndex, m => m is MembershipRestored);
        await AwaitAssertAsync(() =>
        {
            Assert.Contains(group, KernelTables.Groups(_f, newIndex));
            Assert.True(KernelTables.SourceFilter(_f, newIndex, ssm, link.SourceB(_f))?.Include == 1,
                $"index {newIndex}: " + string.Join("; ", KernelTables.SourceFilters(_f).Where(r => r.Group.Equals(ssm))) + " groups: " + string.Join(",", KernelTables.Groups(_f, newIndex)));
        }, TimeSpan.FromSeconds(10));
        _output.WriteLine($"{_f}: membership back in the kernel {clock.ElapsedMilliseconds} ms after the interface returned");

        var tx = CoreSender(_f, link.SourceB(_f), link.B);
        SendText(tx, group, port, "after-recreate");
        Assert.Equal("after-recreate", Text((Received)probe.FishForMessage(m => m is Received, Arrival)));
        var state = await client.GetStateAsync();
        Assert.All(state.Memberships, m => Assert.Equal(MembershipStatus.Active, m.Status));
        Assert.Equal(0, state.Counters.Restarts);
    }

    [Fact]
    public async Task PlainJoinPendingItsInterface_TakesASourceJoin_AsAFreshJoinWould_IncludeOnceTheInterfaceComes()
    {
        using var link = new LabLink();
        link.Delete();
        IPAddress group = _f.NewGroup();
        var (client, _) = await StartReceiver(_f);
        Assert.Equal(MembershipStatus.Pending, await client.JoinGroupAsync(group, link.A));
        // The kernel lets a source join switch a membership that never had a source to INCLUDE.
        Assert.Equal(MembershipStatus.Pending, await client.JoinSourceGroupAsync(group, link.SourceB(_f), link.A));
        link.Create();
        int index = LabNet.Index(link.A);
        await AwaitAssertAsync(() =>
        {
            Assert.Contains(group, KernelTables.Groups(_f, index));
            Assert.Equal(1, KernelTables.SourceFilter(_f, index, group, link.SourceB(_f))?.Include);
        }, TimeSpan.FromSeconds(10));
        // With a source now, the other mode is refused, as the kernel refuses it.
        var e = await Assert.ThrowsAsync<DatagramSocketException>(() => client.BlockSourceAsync(group, _f.Tx0Sources[0], link.A));
        Assert.Equal("EINVAL", e.ErrorName);
    }

    /// <summary>Down and up keep the membership (issue 14, item 5): reported down and up, the filter untouched, nothing rejoined.</summary>
    [Fact]
    public async Task InterfaceDownAndUp_MembershipStaysActive_ReportedDownThenUp_FilterIncludedOnce()
    {
        using var link = new LabLink();
        IPAddress ssm = _f.NewSsmGroup();
        var (client, port) = await StartReceiver(_f);
        var probe = CreateTestProbe();
        await client.SubscribeAsync(probe);
        await client.JoinSourceGroupAsync(ssm, link.SourceB(_f), link.A);
        int index = LabNet.Index(link.A);
        Assert.Equal(1, KernelTables.SourceFilter(_f, index, ssm, link.SourceB(_f))?.Include);

        LabLink.Ip("link", "set", link.A, "down");
        probe.FishForMessage(m => m is InterfaceChanged { Change: InterfaceChange.Down } c && c.Interface == link.A && c.Index == index, Arrival);
        Assert.All((await client.GetStateAsync()).Memberships, m => Assert.Equal(MembershipStatus.Active, m.Status));
        LabLink.Ip("link", "set", link.A, "up");
        probe.FishForMessage(m => m is InterfaceChanged { Change: InterfaceChange.Up } c && c.Interface == link.A && c.Index == index, TimeSpan.FromSeconds(10));
        await AwaitAssertAsync(() => Assert.Equal(1, KernelTables.SourceFilter(_f, index, ssm, link.SourceB(_f))?.Include), TimeSpan.FromSeconds(10));

        // Delivery resumes on the membership the kernel kept: the first datagram after up is the proof.
        var tx = CoreSender(_f, link.SourceB(_f), link.B);
        await AwaitAssertAsync(() =>
        {
            SendText(tx, ssm, port, "after-up");
            Assert.Equal("after-up", Text(probe.FishForMessage<Received>(_ => true, TimeSpan.FromMilliseconds(100))));
        }, Arrival, TimeSpan.Zero);
        Assert.Equal(1, KernelTables.SourceFilter(_f, index, ssm, link.SourceB(_f))?.Include);
        SocketState state = await client.GetStateAsync();
        Assert.Equal(MembershipStatus.Active, Assert.Single(state.Memberships).Status);
        Assert.Equal(0, state.Counters.MembershipsRestored); // nothing was left, so nothing was rejoined
    }

    /// <summary>Fishes until each predicate has matched a message, in whatever order they come.</summary>
    private static void FishForEach(Akka.TestKit.TestProbe probe, TimeSpan timeout, params Func<object, bool>[] wanted)
    {
        var left = wanted.ToList();
        probe.FishForMessage(m =>
        {
            left.RemoveAll(w => w(m));
            return left.Count == 0;
        }, timeout);
    }
}

[Trait("Area", "Supervision")]
public sealed class InterfaceRecoveryTestsV4(ITestOutputHelper output) : InterfaceRecoveryTests(LabFamily.V4, output);

[Trait("Area", "Supervision")]
public sealed class InterfaceRecoveryTestsV6(ITestOutputHelper output) : InterfaceRecoveryTests(LabFamily.V6, output);

/// <summary>
/// 50 delete/re-create cycles under igmp_max_memberships = 3 with two groups joined: without dropping
/// the stale entries the second cycle would already fail with ENOBUFS. Lowers a namespace-wide sysctl,
/// so it runs alone and restores it.
/// </summary>
[Collection(SerialCollection.Name)]
[Trait("Area", "Supervision")]
public sealed class InterfaceCycleTests : ActorTestBase
{
    private readonly ITestOutputHelper _output;

    public InterfaceCycleTests(ITestOutputHelper output) : base(output) => _output = output;

    private const string MaxMemberships = "/proc/sys/net/ipv4/igmp_max_memberships";

    [Fact]
    public async Task FiftyDeleteRecreateCycles_UnderLoweredIgmpMaxMemberships_AlwaysRestored()
    {
        var f = LabFamily.V4;
        string saved = File.ReadAllText(MaxMemberships).Trim();
        using var link = new LabLink();
        try
        {
            File.WriteAllText(MaxMemberships, "3");
            IPAddress g1 = f.NewGroup(), g2 = f.NewGroup();
            var (client, _) = await StartReceiver(f);
            await client.JoinGroupAsync(g1, link.A);
            await client.JoinGroupAsync(g2, link.A);
            var latencies = new List<long>();
            for (int cycle = 0; cycle < 50; cycle++)
            {
                link.Delete();
                await AwaitAssertAsync(async () => Assert.All((await client.GetStateAsync()).Memberships, m => Assert.Equal(MembershipStatus.Pending, m.Status)),
                    TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(10));
                var clock = Stopwatch.StartNew();
                link.Create();
                int index = LabNet.Index(link.A);
                await AwaitAssertAsync(() =>
                {
                    var groups = KernelTables.IgmpGroups(index);
                    Assert.Contains(g1, groups);
                    Assert.Contains(g2, groups);
                }, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(5));
                latencies.Add(clock.ElapsedMilliseconds);
            }
            var state = await client.GetStateAsync();
            Assert.All(state.Memberships, m => Assert.Equal(MembershipStatus.Active, m.Status));
            Assert.True(state.Counters.MembershipsRestored >= 100);
            latencies.Sort();
            _output.WriteLine($"50 cycles: rejoin latency median {latencies[25]} ms, max {latencies[^1]} ms (check interval 20 ms)");
        }
        finally
        {
            File.WriteAllText(MaxMemberships, saved);
        }
    }
}
