using System.Net;
using System.Runtime.InteropServices;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Tests.Actors;

/// <summary>
/// Faults the socket actor must survive: the incarnation killed, the socket shut down under the read
/// loop or a send, the socket disposed under the actor. Each time a new socket binds the same port, the
/// ledger is replayed, and the kernel tables show the same memberships and source filters as before.
/// </summary>
public abstract partial class SupervisionTests : ActorTestBase
{
    private readonly LabFamily _f;

    protected SupervisionTests(LabFamily family, ITestOutputHelper output) : base(output) => _f = family;

    [LibraryImport("libc", EntryPoint = "shutdown")]
    private static partial int Shutdown(SafeHandle fd, int how);

    private sealed record Setup(SocketClient Client, int Port, IPAddress Asm, IPAddress Ssm, Akka.TestKit.TestProbe Probe);

    private async Task<Setup> StartWithMemberships()
    {
        IPAddress asm = _f.NewGroup(), ssm = _f.NewSsmGroup();
        var (client, port) = await StartReceiver(_f, s => s with { MinBackoff = TimeSpan.FromMilliseconds(50) });
        await client.JoinGroupAsync(asm, LabNet.Rx0);
        await client.BlockSourceAsync(asm, _f.Tx0Sources[2], LabNet.Rx0);
        await client.JoinSourceGroupAsync(ssm, _f.Tx0Sources[1], LabNet.Rx0);
        await client.SetMulticastTtlAsync(17);
        var probe = CreateTestProbe();
        await client.SubscribeAsync(probe);
        return new Setup(client, port, asm, ssm, probe);
    }

    /// <summary>What the kernel says about this test's groups: memberships on lab0a and source filter rows.</summary>
    private string KernelView(Setup s)
    {
        int rx0 = LabNet.Index(LabNet.Rx0);
        var groups = KernelTables.Groups(_f, rx0).Where(g => g.Equals(s.Asm) || g.Equals(s.Ssm)).OrderBy(g => g.ToString());
        var filters = KernelTables.SourceFilters(_f).Where(r => r.Group.Equals(s.Asm) || r.Group.Equals(s.Ssm))
            .Select(r => $"{r.InterfaceIndex} {r.Group} {r.Source} inc={r.Include} exc={r.Exclude}").Order();
        return string.Join(", ", groups) + " | " + string.Join(", ", filters);
    }

    private async Task AssertRecovered(Setup s, string before)
    {
        s.Probe.FishForMessage(m => m is SocketRestarting, Arrival);
        var restored = (SocketRestored)s.Probe.FishForMessage(m => m is SocketRestored, Arrival);
        Assert.True(restored.Incarnation >= 2);
        // IPv6 sometimes drops the source filters a new socket re-adds right after the old one closed
        // (seen: groups back, mcfilter6 rows missing); the incarnation's reconcile (50 ms here) re-joins.
        await AwaitAssertAsync(() => Assert.Equal(before, KernelView(s)), Arrival);
        Assert.Equal(17, await OnSocket(s.Client, sock => sock.GetMulticastTtl()));
        // Datagrams flow again: the allowed source arrives, the blocked one and the non-included one do not.
        var good = CoreSender(_f, _f.Tx0Sources[1], LabNet.Tx0);
        var blocked = CoreSender(_f, _f.Tx0Sources[2], LabNet.Tx0);
        SendText(blocked, s.Asm, s.Port, "blocked");
        SendText(blocked, s.Ssm, s.Port, "not-included");
        SendText(good, s.Asm, s.Port, "asm-after");
        SendText(good, s.Ssm, s.Port, "ssm-after");
        var texts = new List<string>();
        while (texts.Count < 2)
        {
            if (s.Probe.ReceiveOne(Arrival) is Received r) texts.Add(Text(r));
        }
        Assert.Equal(["asm-after", "ssm-after"], texts);
        var state = await s.Client.GetStateAsync();
        Assert.All(state.Memberships, m => Assert.Equal(MembershipStatus.Active, m.Status));
        Assert.True(state.Counters.Restarts >= 1);
        Assert.True(state.Counters.MembershipsRestored >= 2);
        Assert.Equal(s.Port, ((IPEndPoint)state.LocalEndPoint!).Port);
    }

    private async Task<IActorRef> Incarnation(SocketClient client) =>
        await Sys.ActorSelection(client.Socket.Path / "*").ResolveOne(Arrival);

    [Fact]
    public async Task IncarnationKilled_NewSocketOnSamePort_KernelStateRestored_DatagramsFlow()
    {
        var s = await StartWithMemberships();
        string before = KernelView(s);
        Assert.Contains(s.Asm.ToString(), before);
        (await Incarnation(s.Client)).Tell(Kill.Instance);
        await AssertRecovered(s, before);
    }

    [Fact]
    public async Task SocketShutDownUnderTheReadLoop_IsAFault_KernelStateRestored()
    {
        var s = await StartWithMemberships();
        string before = KernelView(s);
        await OnSocket(s.Client, sock => Shutdown(sock.SafeHandle, 2));
        await AssertRecovered(s, before);
    }

    [Fact]
    public async Task SocketDisposedUnderTheActor_IsAFault_KernelStateRestored()
    {
        var s = await StartWithMemberships();
        string before = KernelView(s);
        await OnSocket(s.Client, sock => { sock.Dispose(); return 0; });
        await AssertRecovered(s, before);
    }

    [Fact]
    public async Task SendOnBrokenSocket_ReportsEpipe_AndTheSocketIsRebuilt()
    {
        var s = await StartWithMemberships();
        string before = KernelView(s);
        await s.Client.SuspendReadingAsync(); // the read loop must not see the fault first
        await OnSocket(s.Client, sock => Shutdown(sock.SafeHandle, 2));
        SendResult sent = await s.Client.SendToAsync(new byte[4], new IPEndPoint(_f.Loopback, s.Port));
        Assert.Equal((SendStatus.Error, "EPIPE"), (sent.Status, sent.ErrorName));
        s.Probe.FishForMessage(m => m is SocketRestored, Arrival);
        await AwaitAssertAsync(() => Assert.Equal(before, KernelView(s)), Arrival);
        await s.Client.ResumeReadingAsync();
        Assert.True((await s.Client.GetStateAsync()).Counters.SendFailures >= 1);
    }

    [Fact]
    public async Task CommandsSentDuringRestart_AreAppliedInOrderByTheNewIncarnation()
    {
        var s = await StartWithMemberships();
        (await Incarnation(s.Client)).Tell(Kill.Instance);
        // These race the restart: they wait in the supervisor and apply in order.
        Task<int> a = s.Client.SetMulticastTtlAsync(30);
        Task<int> b = s.Client.SetMulticastTtlAsync(31);
        Task<int> c = s.Client.GetMulticastTtlAsync();
        Assert.Equal(17, await a);
        Assert.Equal(30, await b);
        Assert.Equal(31, await c);
    }
}

[Trait("Area", "Supervision")]
public sealed class SupervisionTestsV4(ITestOutputHelper output) : SupervisionTests(LabFamily.V4, output);

[Trait("Area", "Supervision")]
public sealed class SupervisionTestsV6(ITestOutputHelper output) : SupervisionTests(LabFamily.V6, output);
