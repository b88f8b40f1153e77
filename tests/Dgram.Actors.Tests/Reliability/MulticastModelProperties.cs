using System.Net;
using System.Text;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Actors;
using Dgram.Actors.Tests.Lab;
using FsCheck.Xunit;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Reliability;

/// <summary>
/// Random sequences of multicast option and membership changes, applied through the socket actor, against
/// <see cref="MulticastModel"/>: every step's outcome (the previous value of a setter, or the exact error)
/// must be the model's, and after the sequence the kernel must agree with it: memberships in
/// /proc/net/igmp(6), source filters in /proc/net/mcfilter(6), TTL, loop and (IPv6) the outgoing
/// interface read back with the tests' own getsockopt, and the outgoing interface proven by a datagram
/// that must leave through it (IPv4's getsockopt cannot tell). A variant kills the socket's incarnation
/// at a random step; the next steps race the restart, and the rebuilt socket must hold the model's state.
/// Each sequence uses groups and ports of its own; only rows for its groups are compared.
/// Runtime: MaxTest sequences of 1–50 steps per property and family (see the attributes).
/// </summary>
public abstract class MulticastModelProperties : ActorTestBase
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(1);
    private readonly LabFamily _f;

    protected MulticastModelProperties(LabFamily family, ITestOutputHelper output) : base(output) => _f = family;

    [Property(MaxTest = 100, Arbitrary = [typeof(StepArbitraries)])]
    public Task Steps_ThroughTheActor_MatchTheModel_AndTheKernelAgrees(StepSequence sequence) =>
        Task.Run(() => Run(sequence.Steps, killAt: null, sequence.ToString()));

    [Property(MaxTest = 30, Arbitrary = [typeof(StepArbitraries)])]
    public Task IncarnationKilledAtARandomStep_RebuiltSocketMatchesTheModel(KillSequence sequence) =>
        Task.Run(() => Run(sequence.Steps, sequence.KillAt, sequence.ToString()));

    /// <summary>One sequence: its own socket actor, groups and ports; the actor is stopped at the end.</summary>
    private async Task Run(Step[] steps, int? killAt, string printed)
    {
        var u = new Universe(_f);
        var (client, _) = await StartReceiver(_f, s => s with { MinBackoff = TimeSpan.FromMilliseconds(50) });
        var events = CreateTestProbe();
        await client.SubscribeAsync(events);
        var model = new MulticastModel();
        var trace = new StringBuilder();
        try
        {
            for (int i = 0; i <= steps.Length; i++)
            {
                if (i == killAt)
                {
                    (await Sys.ActorSelection(client.Socket.Path / "*").ResolveOne(Arrival)).Tell(Kill.Instance);
                    model.Restarted();
                    trace.AppendLine("   -- incarnation killed --");
                }
                if (i == steps.Length) break;
                string expected = model.Apply(steps[i]);
                string actual = await Execute(client, u, steps[i]);
                trace.AppendLine($"  {i + 1,2}. {steps[i],-28} {actual}{(actual == expected ? "" : $"   <-- model: {expected}")}");
                if (actual != expected) Fail("the actor's answer differs from the model's", printed, u, trace);
            }
            if (killAt is not null)
            {
                await events.FishForMessageAsync(m => m is SocketRestored, Arrival);
            }
            // The kernel converges on the model (a restart re-adds IPv6 filters with the reconcile).
            string want = string.Join(Environment.NewLine, model.View(_f.IsV6));
            string got = "";
            try
            {
                await AwaitAssertAsync(async () =>
                {
                    got = string.Join(Environment.NewLine, await KernelView(client, u));
                    Assert.Equal(want, got);
                }, killAt is null ? Settle : Arrival, TimeSpan.FromMilliseconds(50));
            }
            catch (Exception)
            {
                Fail($"the kernel disagrees with the model{Environment.NewLine}model:{Environment.NewLine}{want}{Environment.NewLine}kernel:{Environment.NewLine}{got}",
                    printed, u, trace);
            }
            string? route = await OutgoingInterfaceMismatch(client, model);
            if (route is not null) Fail(route, printed, u, trace);
        }
        finally
        {
            await client.Socket.GracefulStop(Arrival);
        }
    }

    private static void Fail(string what, string printed, Universe u, StringBuilder trace) =>
        throw new Xunit.Sdk.XunitException($"{what}{Environment.NewLine}{printed}{Environment.NewLine}step by step (actor's answer):{Environment.NewLine}{trace}{u}");

    /// <summary>One step through the typed client; the answer in <see cref="Outcome"/>'s words.</summary>
    private static async Task<string> Execute(SocketClient c, Universe u, Step s)
    {
        try
        {
            switch (s.Kind)
            {
                case StepKind.SetLoop: return Outcome.Was(await c.SetMulticastLoopAsync(s.Value != 0));
                case StepKind.SetTtl: return Outcome.Was(await c.SetMulticastTtlAsync(s.Value));
                case StepKind.SetInterface: return Outcome.Was(await c.SetMulticastInterfaceAsync(Step.InterfaceName(s.Value)));
                case StepKind.GetLoop: return Outcome.Is(await c.GetMulticastLoopAsync());
                case StepKind.GetTtl: return Outcome.Is(await c.GetMulticastTtlAsync());
                case StepKind.GetInterface: return Outcome.Is(await c.GetMulticastInterfaceAsync());
            }
            IPAddress g = u.Groups[s.Group], src = u.Sources[s.Source];
            string ifname = Step.InterfaceNames[s.Interface];
            MembershipStatus status = s.Kind switch
            {
                StepKind.Join => await c.JoinGroupAsync(g, ifname),
                StepKind.Leave => await c.LeaveGroupAsync(g, ifname),
                StepKind.JoinSource => await c.JoinSourceGroupAsync(g, src, ifname),
                StepKind.LeaveSource => await c.LeaveSourceGroupAsync(g, src, ifname),
                StepKind.Block => await c.BlockSourceAsync(g, src, ifname),
                StepKind.Unblock => await c.UnblockSourceAsync(g, src, ifname),
                _ => throw new ArgumentOutOfRangeException(nameof(s), s.Kind, null),
            };
            // The lab's interfaces exist and are up: every accepted change is in the kernel at once.
            return status == MembershipStatus.Active ? Outcome.Ok : "ok but " + status;
        }
        catch (DatagramSocketException e)
        {
            return Outcome.Error(e.ErrorName);
        }
    }

    /// <summary>What the kernel says, in the model's lines: /proc for this sequence's groups, getsockopt for the options.</summary>
    private async Task<List<string>> KernelView(SocketClient client, Universe u)
    {
        int level = _f.IsV6 ? RawSockOpt.IPPROTO_IPV6 : RawSockOpt.IPPROTO_IP;
        var (ttl, loop, ifindex) = await OnSocket(client, s => (
            RawSockOpt.GetInt(s.SafeHandle, level, _f.IsV6 ? RawSockOpt.IPV6_MULTICAST_HOPS : RawSockOpt.IP_MULTICAST_TTL),
            RawSockOpt.GetInt(s.SafeHandle, level, _f.IsV6 ? RawSockOpt.IPV6_MULTICAST_LOOP : RawSockOpt.IP_MULTICAST_LOOP),
            _f.IsV6 ? RawSockOpt.GetInt(s.SafeHandle, level, RawSockOpt.IPV6_MULTICAST_IF) : 0));
        var lines = new List<string> { $"loop {(loop != 0 ? "on" : "off")}", $"ttl {ttl}" };
        if (_f.IsV6) lines.Add($"mcastif {(ifindex == 0 ? "null" : u.InterfaceName(ifindex))}");
        foreach (int index in u.AllInterfaces)
        {
            IReadOnlySet<IPAddress> joined = KernelTables.Groups(_f, index);
            for (int g = 0; g < u.Groups.Length; g++)
            {
                if (joined.Contains(u.Groups[g])) lines.Add($"member {Step.GroupNames[g]} @{u.InterfaceName(index)}");
            }
        }
        foreach (SourceFilterEntry r in KernelTables.SourceFilters(_f))
        {
            int g = Array.IndexOf(u.Groups, r.Group);
            if (g < 0) continue;
            string mode = (r.Include, r.Exclude) switch { (1, 0) => "include", (0, 1) => "exclude", _ => $"inc={r.Include} exc={r.Exclude}" };
            lines.Add($"filter {Step.GroupNames[g]} @{u.InterfaceName(r.InterfaceIndex)} {u.SourceName(r.Source)} {mode}");
        }
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    /// <summary>
    /// The outgoing interface, proven by a datagram the actor sends (TTL 1 for this datagram only) to a
    /// group a plain receiver joined on both far ends: it must arrive on the peer of the model's interface.
    /// With none set, IPv4 has no route for the group in the lab (ENETUNREACH); IPv6 routes it by its own
    /// table, so there only getsockopt (in the kernel view) judges. Null when all is as the model says.
    /// </summary>
    private async Task<string?> OutgoingInterfaceMismatch(SocketClient client, MulticastModel model)
    {
        if (model.Interface < 0 && _f.IsV6) return null;
        IPAddress group = _f.NewGroup();
        int port = LabNet.NextPort();
        using var rx = DatagramSocket.Create(_f.Family, new DatagramSocketOptions { ReceiveMetadata = ReceiveMetadata.PacketInfo });
        rx.Bind(new IPEndPoint(_f.Any, port));
        rx.JoinGroup(group, LabNet.Tx0);
        rx.JoinGroup(group, LabNet.Tx1);
        {
            byte[] payload = Encoding.ASCII.GetBytes("route-probe");
            SendResult sent = await client.SendToAsync(payload, new IPEndPoint(group, port), ttl: 1, interfaceName: null);
            if (model.Interface < 0)
            {
                return sent.Status == SendStatus.Error && sent.ErrorName == "ENETUNREACH"
                    ? null : $"with no outgoing interface the probe should fail with ENETUNREACH; it gave {sent}";
            }
            if (sent.Status != SendStatus.Sent) return $"the route probe was not sent: {sent}";
            byte[] buffer = new byte[64];
            ReceiveResult got = rx.ReceiveFrom(buffer, (SocketAddress?)null, Arrival);
            string want = model.Interface == 0 ? LabNet.Tx0 : LabNet.Tx1;
            if (got.TimedOut) return $"the route probe did not arrive (expected on {want})";
            return got.InterfaceIndex == LabNet.Index(want)
                ? null : $"the route probe arrived on interface {got.InterfaceIndex}, not on {want} ({LabNet.Index(want)}): the socket sends out of the wrong interface";
        }
    }

    /// <summary>This sequence's addresses for the step indices.</summary>
    private sealed class Universe
    {
        public Universe(LabFamily f)
        {
            Groups = [f.NewGroup(), f.NewGroup(), f.NewSsmGroup(), f.NewSsmGroup()];
            Sources = f.Tx0Sources;
            AllInterfaces = [LabNet.Index(LabNet.Rx0), LabNet.Index(LabNet.Rx1), LabNet.Index(LabNet.Tx0), LabNet.Index(LabNet.Tx1)];
        }

        public IPAddress[] Groups { get; }
        public IPAddress[] Sources { get; }
        public int[] AllInterfaces { get; }

        public string InterfaceName(int index) => NetworkInterfaceNames.GetName(index) ?? "#" + index;

        public string SourceName(IPAddress a)
        {
            int i = Array.IndexOf(Sources, a);
            return i < 0 ? a.ToString() : "s" + i;
        }

        public override string ToString() =>
            "where " + string.Join(", ", Groups.Select((g, i) => $"{Step.GroupNames[i]}={g}"))
            + ", " + string.Join(", ", Sources.Select((s, i) => $"s{i}={s}"));
    }
}

[Trait("Area", "Reliability")]
public sealed class MulticastModelPropertiesV4(ITestOutputHelper output) : MulticastModelProperties(LabFamily.V4, output);

[Trait("Area", "Reliability")]
public sealed class MulticastModelPropertiesV6(ITestOutputHelper output) : MulticastModelProperties(LabFamily.V6, output);
