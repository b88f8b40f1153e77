using System.Diagnostics;
using System.Net;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Actors;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Reliability;

/// <summary>
/// Carrier flaps leave the kernel alone (issue 14, item 5 and its goal "100 down/up cycles: every source
/// shows count 1 in mcfilter(6), delivery intact"). A socket actor joins one source-specific group for two
/// sources on its own veth link; a sender per source streams into the loss account. The link goes down
/// and up 100 times, the receiving end itself or (every <see cref="PeerEvery"/>th cycle) the peer end, which
/// takes the receiving end's carrier. After each cycle, once delivery has resumed from both sources, the
/// kernel must show exactly one include per (group, source) on the receiving interface: leaving while
/// down and joining again after up makes IPv4 count 2 in a third to a half of trials (LAB-FACTS); IPv6
/// did not show it, and its variant guards the same goal. At the end, no datagram was lost outside the
/// cycles' windows, each of which ends once delivery has resumed.
/// </summary>
/// <remarks>
/// It waits on the kernel and on datagrams; the one event it takes is InterfaceChanged(Down), that the
/// socket saw the link down before it comes back up (a cycle the socket never saw would test nothing).
/// </remarks>
public abstract class CarrierFlapTests : ActorTestBase
{
    private const int Cycles = 100, PeerEvery = 4, Rate = 400;
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(10);
    private readonly LabFamily _f;
    private readonly ITestOutputHelper _output;

    protected CarrierFlapTests(LabFamily family, ITestOutputHelper output) : base(output)
    {
        _f = family;
        _output = output;
    }

    [Fact]
    public async Task HundredDownUpCycles_EachSourceIncludedOnceInTheKernel_NoLossOutsideTheCycles()
    {
        using var link = new LabLink();
        // The peer end's own down would flush its IPv6 addresses (keep_addr_on_down=0) and leave the
        // senders bound to nothing; the receiving end, the one under test, keeps the default.
        File.WriteAllText($"/proc/sys/net/ipv6/conf/{link.B}/keep_addr_on_down", "1");
        IPAddress[] sources = [link.SourceB(_f), link.AddSecondSourceB(_f)];
        IPAddress group = _f.NewSsmGroup();
        int port = LabNet.NextPort();
        var account = new LossAccount([link.A, link.B], expectedPerStream: Rate * 40);
        PacedSender[] senders = [.. sources.Select(s => new PacedSender(account, $"{group} from {s}", _f, s, link.B, group, port, Rate))];
        try
        {
            using var rx = await RxReceiver.StartAsync(Sys, account, new SocketSettings
            {
                Name = $"flap-rx-{port}", Family = _f.Family, LocalEndPoint = new IPEndPoint(_f.Any, port), ReceiveBufferSize = 1 << 20,
                MinBackoff = TimeSpan.FromMilliseconds(50),
            }, [.. senders.Select(s => s.Stream)]);
            foreach (IPAddress source in sources) await rx.Client.JoinSourceGroupAsync(group, source, link.A);
            int index = LabNet.Index(link.A);
            AssertIncludedOnce(index, group, sources, "after the joins");
            foreach (PacedSender s in senders) s.Start();
            await account.AwaitFlowAsync(20, Arrival);

            var clock = Stopwatch.StartNew();
            var cycleTimes = new List<(string End, double Ms)>();
            for (int cycle = 1; cycle <= Cycles; cycle++)
            {
                string end = cycle % PeerEvery == 0 ? link.B : link.A;
                string what = $"cycle {cycle} ({(end == link.A ? "receiving" : "peer")} end {end} down/up)";
                var started = Stopwatch.StartNew();
                int mark = rx.Status.Mark;
                FaultWindow window = await account.BeginAsync(what);
                LabLink.Ip("link", "set", end, "down");
                await rx.Status.WaitForInterface(mark, link.A, InterfaceChange.Down, Recovery);
                await Task.Delay(DownHold(cycle)); // pacing the fault, not waiting for anything
                LabLink.Ip("link", "set", end, "up");
                // A datagram from each source sent after the link came back has arrived: the kernel
                // delivers again (mcfilter lists nothing for a down interface, so it is read after this).
                await account.AwaitDeliverySinceAsync(window, Recovery);
                AssertIncludedOnce(index, group, sources, what);
                await account.EndAsync(window);
                cycleTimes.Add((end == link.A ? "receiving" : "peer", started.Elapsed.TotalMilliseconds));
                await account.AwaitFlowAsync(3, Recovery); // some datagrams outside every window before the next cycle
            }
            TimeSpan cyclesTook = clock.Elapsed;

            foreach (PacedSender s in senders) await s.StopAsync();
            await account.DrainAsync(TimeSpan.FromSeconds(5));
            LossReport report = await account.ReportAsync();
            _output.WriteLine($"{_f}: {Cycles} cycles in {cyclesTook.TotalSeconds:F1} s; sender refusals {string.Join(", ", senders.Select(s => s.Refused))}");
            foreach (var byEnd in cycleTimes.GroupBy(c => c.End))
            {
                double[] ms = [.. byEnd.Select(c => c.Ms).Order()];
                _output.WriteLine($"{byEnd.Key} end: {ms.Length} cycles, down to delivery back median {ms[ms.Length / 2]:F1} ms, max {ms[^1]:F1} ms");
            }
            _output.WriteLine(report.Describe());
            Assert.Empty(report.OpenWindows);
            Assert.Equal(0, report.Unexplained);
            Assert.Equal(0, report.Duplicates);
            Assert.Equal(0, report.Reordered);
            SocketState state = await rx.Client.GetStateAsync();
            Assert.All(state.Memberships, m => Assert.Equal(MembershipStatus.Active, m.Status));
            Assert.Equal(0, state.Counters.Restarts);
            Assert.Equal(0, state.Counters.MembershipsRestored); // nothing was left, so nothing rejoined
            AssertIncludedOnce(index, group, sources, "at the end");
        }
        finally
        {
            foreach (PacedSender s in senders) s.Dispose();
        }
    }

    /// <summary>
    /// How long the link stays down after the socket saw it go down, spread over 5 to 95 ms. A flap lasts:
    /// the kernel's IGMPv3/MLD report timers run while the link is down, and leaving then rejoining gives
    /// IPv4 include count 2 only when one fires between the leave and the link's return (measured with
    /// plain setsockopt: 0 of 40 cycles with 2 ms between leave and up, 5 of 40 with 80 ms).
    /// </summary>
    private static TimeSpan DownHold(int cycle) => TimeSpan.FromMilliseconds(5 + cycle * 37 % 91);

    /// <summary>The interface's source filters are exactly one include (and no exclude) per joined (group, source).</summary>
    private void AssertIncludedOnce(int index, IPAddress group, IPAddress[] sources, string when)
    {
        SourceFilterEntry[] rows = [.. KernelTables.SourceFilters(_f).Where(r => r.InterfaceIndex == index).OrderBy(r => r.Source.ToString())];
        SourceFilterEntry[] expected = [.. sources.Select(s => new SourceFilterEntry(index, group, s, 1, 0)).OrderBy(r => r.Source.ToString())];
        Assert.True(rows.SequenceEqual(expected),
            $"{_f} {when}: mcfilter rows on index {index}: [{string.Join("; ", rows)}]; wanted include 1, exclude 0 for {group} from each of {string.Join(", ", sources)}");
    }
}

[Trait("Area", "Reliability")]
public sealed class CarrierFlapTestsV4(ITestOutputHelper output) : CarrierFlapTests(LabFamily.V4, output);

[Trait("Area", "Reliability")]
public sealed class CarrierFlapTestsV6(ITestOutputHelper output) : CarrierFlapTests(LabFamily.V6, output);
