using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Akka.Actor;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Actors;
using Dgram.Actors.Tests.Lab;
using Dgram.Actors.Tests.Sockets;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Reliability;

/// <summary>
/// A bounded soak (issue 8, part 4): senders and receivers on two veth pairs of their own, any-source
/// and source-specific groups, IPv4 and IPv6, and a random fault every few seconds (an incarnation
/// killed, a socket disposed under its actor, an interface downed or deleted), each a window in the
/// loss account that closes when the events and the kernel tables show recovery and delivery has resumed
/// (a datagram sent after that arrived at every affected receiver, on every affected stream). At the end: every
/// stream's loss explained, the descriptor count exactly where it was after warm-up, no heap growth
/// beyond <see cref="HeapBudget"/> (<see cref="HeapTrend"/>: the managed heap sampled after a full
/// collection before every fault, a line fitted through the samples), no unobserved task exception.
/// Duration: DGRAM_SOAK_SECONDS (default 20;
/// <c>./soak.sh --duration N</c>). The figures go to the test output and, when DGRAM_SOAK_REPORT names
/// a file, there too.
/// </summary>
/// <remarks>
/// In the serial collection: descriptors, the managed heap and unobserved task exceptions are
/// process-wide, so tests running beside it would move the figures it judges.
/// </remarks>
[Collection(SerialCollection.Name)]
[Trait("Area", "Reliability")]
public sealed class SoakTests : ActorTestBase
{
    private const int Rate = 150; // per stream
    /// <summary>Heap growth allowed over the run, by the fitted line or end over start (see <see cref="HeapTrendTests"/>).</summary>
    public const long HeapBudget = 512 << 10;
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(15);
    private readonly ITestOutputHelper _output;

    public SoakTests(ITestOutputHelper output) : base(output) => _output = output;

    /// <summary>One family on one link: two groups, a sender each, two receivers sharing the port.</summary>
    private sealed record Lane(LabLink Link, LabFamily F, IPAddress Asm, IPAddress Ssm, PacedSender AsmTx, PacedSender SsmTx, RxReceiver[] Receivers)
    {
        public IPAddress Source => Link.SourceB(F);

        /// <summary>The kernel shows every receiver of the lane joined: users of both groups and includes of the source.</summary>
        public void AssertInKernel()
        {
            int index = LabNet.Index(Link.A);
            int n = Receivers.Length;
            Assert.Equal((n, n, n), (KernelUsers.Group(F, index, Asm), KernelUsers.Group(F, index, Ssm), KernelUsers.Includes(F, index, Ssm, Source)));
        }
    }

    private enum Fault { KillIncarnation, DisposeSocket, InterfaceDownUp, InterfaceDeleteRecreate }

    [Fact]
    public async Task Soak_RandomFaults_EveryLossExplained_NoDescriptorOrHeapGrowth()
    {
        int seconds = int.TryParse(Environment.GetEnvironmentVariable("DGRAM_SOAK_SECONDS"), CultureInfo.InvariantCulture, out int s) && s > 0 ? s : 20;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("DGRAM_SOAK_SEED"), CultureInfo.InvariantCulture, out int given) ? given : Environment.TickCount;
        var random = new Random(seed);

        // Unobserved task exceptions left by earlier tests surface at their finalization: flush them first.
        Settle();
        int unobserved = 0;
        var unobservedMessages = new List<string>();
        EventHandler<UnobservedTaskExceptionEventArgs> onUnobserved = (_, e) =>
        {
            Interlocked.Increment(ref unobserved);
            lock (unobservedMessages) unobservedMessages.Add(e.Exception.InnerException?.Message ?? e.Exception.Message);
        };
        TaskScheduler.UnobservedTaskException += onUnobserved;
        var links = new[] { new LabLink(), new LabLink() };
        var lanes = new List<Lane>();
        try
        {
            // Faults come at most one a second: the account makes its windows ahead, so the heap trend sees the library, not them.
            var account = new LossAccount(links.SelectMany(l => new[] { l.A, l.B }), expectedPerStream: Rate * (seconds + 30), expectedWindows: seconds + 16);
            foreach (LabLink link in links)
            {
                foreach (LabFamily f in new[] { LabFamily.V4, LabFamily.V6 })
                {
                    lanes.Add(await StartLane(account, link, f));
                }
            }
            foreach (Lane lane in lanes)
            {
                lane.AssertInKernel();
                lane.AsmTx.Start();
                lane.SsmTx.Start();
            }
            var clock = Stopwatch.StartNew();
            await account.AwaitFlowAsync(30, Arrival);

            var faults = new Dictionary<Fault, int>();
            // Warm-up: one fault of each kind, so every recovery path has run once before the levels are taken.
            foreach (Fault fault in Enum.GetValues<Fault>()) await Inject(fault, random, account, lanes, links, faults);
            await account.AwaitFlowAsync(20, Arrival);
            (int fds, long heap) warm = Levels();
            var warmedAt = clock.Elapsed;
            var trend = new HeapTrend(HeapBudget);
            trend.Add(clock.Elapsed, warm.heap);

            while (clock.Elapsed < TimeSpan.FromSeconds(seconds))
            {
                // A few seconds of undisturbed flow (at least some datagrams on every stream), then the next fault.
                var pause = TimeSpan.FromMilliseconds(random.Next(1000, 3000));
                var until = clock.Elapsed + pause;
                await account.AwaitFlowAsync(10, Arrival);
                if (clock.Elapsed < until) await Task.Delay(until - clock.Elapsed); // pacing the faults, not waiting for anything
                if (clock.Elapsed >= TimeSpan.FromSeconds(seconds)) break;
                trend.Add(clock.Elapsed, Levels().Heap); // a steady point: streams flowing, no fault in progress
                await Inject(random.GetItems(Enum.GetValues<Fault>(), 1)[0], random, account, lanes, links, faults);
            }
            await account.AwaitFlowAsync(20, Arrival);
            // The last fault's recovery may still be closing a descriptor: re-read (bounded) until the
            // count is back; a leak never comes back and fails below.
            (int fds, long heap) end = Levels();
            for (var settle = Stopwatch.StartNew(); end.fds != warm.fds && settle.Elapsed < TimeSpan.FromSeconds(5);) end = Levels();
            trend.Add(clock.Elapsed, end.heap);

            foreach (Lane lane in lanes)
            {
                await lane.AsmTx.StopAsync();
                await lane.SsmTx.StopAsync();
            }
            await account.DrainAsync(TimeSpan.FromSeconds(10));
            LossReport report = await account.ReportAsync();
            Settle();
            int unobservedAtEnd = Volatile.Read(ref unobserved);

            long restarts = 0;
            foreach (Lane lane in lanes)
            {
                lane.AssertInKernel();
                foreach (RxReceiver r in lane.Receivers)
                {
                    SocketState state = await r.Client.GetStateAsync();
                    Assert.All(state.Memberships, m => Assert.Equal(MembershipStatus.Active, m.Status));
                    restarts += state.Counters.Restarts;
                }
            }

            string figures = Figures(seconds, seed, clock.Elapsed, warmedAt, lanes, report, faults, restarts, warm, end, trend, unobservedAtEnd, unobservedMessages);
            _output.WriteLine(figures);
            if (Environment.GetEnvironmentVariable("DGRAM_SOAK_REPORT") is { Length: > 0 } path) File.WriteAllText(path, figures + "\n");

            Assert.Empty(report.OpenWindows);
            Assert.Equal(0, report.Unexplained);
            Assert.Equal(0, report.Duplicates);
            Assert.Equal(0, report.Reordered);
            Assert.True(report.Streams.All(x => x.Received > 0));
            Assert.Equal(warm.fds, end.fds);
            Assert.False(trend.Leaks, trend.Describe());
            Assert.Equal(0, unobservedAtEnd);
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= onUnobserved;
            foreach (Lane lane in lanes)
            {
                lane.AsmTx.Dispose();
                lane.SsmTx.Dispose();
                foreach (RxReceiver r in lane.Receivers) r.Dispose();
            }
            foreach (LabLink l in links) l.Dispose();
        }
    }

    private async Task<Lane> StartLane(LossAccount account, LabLink link, LabFamily f)
    {
        IPAddress asm = f.NewGroup(), ssm = f.NewSsmGroup();
        int port = LabNet.NextPort();
        var asmTx = new PacedSender(account, $"{link.A} {f} asm {asm}", f, link.SourceB(f), link.B, asm, port, Rate);
        var ssmTx = new PacedSender(account, $"{link.A} {f} ssm {ssm}", f, link.SourceB(f), link.B, ssm, port, Rate);
        var receivers = new RxReceiver[2];
        for (int i = 0; i < receivers.Length; i++)
        {
            receivers[i] = await RxReceiver.StartAsync(Sys, account, new SocketSettings
            {
                Name = $"soak-{link.Number}-{(f.IsV6 ? 6 : 4)}-{i}", Family = f.Family, LocalEndPoint = new IPEndPoint(f.Any, port),
                Reuse = AddressReuse.ReuseAddress, ReceiveBufferSize = 1 << 20,
                MinBackoff = TimeSpan.FromMilliseconds(50),
            }, [asmTx.Stream, ssmTx.Stream]);
            await receivers[i].Client.JoinGroupAsync(asm, link.A);
            await receivers[i].Client.JoinSourceGroupAsync(ssm, link.SourceB(f), link.A);
        }
        return new Lane(link, f, asm, ssm, asmTx, ssmTx, receivers);
    }

    private async Task Inject(Fault fault, Random random, LossAccount account, List<Lane> lanes, LabLink[] links, Dictionary<Fault, int> counts)
    {
        counts[fault] = counts.GetValueOrDefault(fault) + 1;
        switch (fault)
        {
            case Fault.KillIncarnation or Fault.DisposeSocket:
            {
                Lane lane = lanes[random.Next(lanes.Count)];
                RxReceiver r = lane.Receivers[random.Next(lane.Receivers.Length)];
                int mark = r.Status.Mark;
                IActorRef incarnation = await r.IncarnationAsync(Sys);
                var window = await account.BeginAsync($"{fault} {r.Name}", WindowKind.Fault, (receiver, _) => receiver == r.Name);
                if (fault == Fault.KillIncarnation) incarnation.Tell(Kill.Instance);
                else await r.OnSocketAsync(sock => sock.Dispose());
                await r.Status.WaitFor<SocketRestored>(mark, 1, Recovery);
                await AwaitAssertAsync(lane.AssertInKernel, Recovery, TimeSpan.FromMilliseconds(5));
                await account.AwaitDeliverySinceAsync(window, Recovery);
                await account.EndAsync(window);
                break;
            }
            default:
            {
                LabLink link = links[random.Next(links.Length)];
                Lane[] affected = [.. lanes.Where(l => l.Link == link)];
                int[] streams = [.. affected.SelectMany(l => new[] { l.AsmTx.Stream, l.SsmTx.Stream })];
                RxReceiver[] receivers = [.. affected.SelectMany(l => l.Receivers)];
                int[] marks = [.. receivers.Select(r => r.Status.Mark)];
                var window = await account.BeginAsync($"{fault} {link.A}", WindowKind.Fault, (_, stream) => streams.Contains(stream));
                if (fault == Fault.InterfaceDownUp)
                {
                    // Down and up keep the memberships: each receiver reports the interface down, then up; nothing is left or rejoined.
                    LabLink.Ip("link", "set", link.A, "down");
                    for (int i = 0; i < receivers.Length; i++) await receivers[i].Status.WaitForInterface(marks[i], link.A, InterfaceChange.Down, Recovery);
                    marks = [.. receivers.Select(r => r.Status.Mark)];
                    LabLink.Ip("link", "set", link.A, "up");
                    for (int i = 0; i < receivers.Length; i++) await receivers[i].Status.WaitForInterface(marks[i], link.A, InterfaceChange.Up, Recovery);
                }
                else
                {
                    // A deleted interface: gone, both memberships pending; re-created: both joined on the new index.
                    link.Delete();
                    for (int i = 0; i < receivers.Length; i++)
                    {
                        await receivers[i].Status.WaitForInterface(marks[i], link.A, InterfaceChange.Gone, Recovery);
                        await receivers[i].Status.WaitFor<MembershipPending>(marks[i], 2, Recovery);
                    }
                    marks = [.. receivers.Select(r => r.Status.Mark)];
                    link.Create();
                    for (int i = 0; i < receivers.Length; i++)
                    {
                        await receivers[i].Status.WaitForInterface(marks[i], link.A, InterfaceChange.Recreated, Recovery);
                        await receivers[i].Status.WaitFor<MembershipRestored>(marks[i], 2, Recovery);
                    }
                }
                await AwaitAssertAsync(() => { foreach (Lane l in affected) l.AssertInKernel(); }, Recovery, TimeSpan.FromMilliseconds(5));
                // The kernel's delivery can trail its tables after link-up (IPv6 lost the first datagram
                // sent once the memberships were back): the window ends when delivery has resumed too.
                await account.AwaitDeliverySinceAsync(window, Recovery);
                await account.EndAsync(window);
                break;
            }
        }
    }

    private static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    /// <summary>Open descriptors (/proc/self/fd) and the managed heap after a full collection.</summary>
    private static (int Fds, long Heap) Levels()
    {
        Settle();
        long heap = GC.GetTotalMemory(forceFullCollection: true);
        return (Directory.GetFileSystemEntries("/proc/self/fd").Length, heap);
    }

    private static string Figures(int seconds, int seed, TimeSpan ran, TimeSpan warmedAt, List<Lane> lanes, LossReport report, Dictionary<Fault, int> faults,
        long restarts, (int Fds, long Heap) warm, (int Fds, long Heap) end, HeapTrend heap, int unobserved, List<string> unobservedMessages)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"soak: {seconds} s asked, ran {ran.TotalSeconds:F1} s (warm-up done at {warmedAt.TotalSeconds:F1} s), seed {seed}, {Rate}/s per stream");
        sb.AppendLine(CultureInfo.InvariantCulture, $"streams {report.Streams.Select(x => x.Stream).Distinct().Count()}, receivers {report.Receivers.Count}, sender refusals (interface away) {lanes.Sum(l => l.AsmTx.Refused + l.SsmTx.Refused)}");
        sb.AppendLine(report.Describe());
        long sent = report.Streams.Sum(x => x.Sent), received = report.Streams.Sum(x => x.Received);
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"totals: datagrams sent {lanes.Sum(l => l.AsmTx.Sent + l.SsmTx.Sent)} (expected deliveries {sent}), received {received}, lost in fault windows {report.Streams.Sum(x => x.MissingInWindows)}, lost outside {report.Streams.Sum(x => x.MissingOutside)}");
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"faults: {faults.Values.Sum()} ({string.Join(", ", faults.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} {kv.Value}"))}); socket restarts {restarts}");
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"drops by cause over the run: subscriber {report.Receivers.Sum(r => r.Drops.Subscriber)}, kernel socket {report.Receivers.Sum(r => r.Drops.Kernel)}, no-consumer {report.Receivers.Sum(r => r.Drops.NoConsumer)}, backlog {report.Network.Backlog}, interfaces {report.Network.Interfaces}; inside fault windows: receivers {report.Windows.Sum(w => w.ReceiverDrops)}, network {report.Windows.Sum(w => w.Network.Total)}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"unexplained loss {report.Unexplained}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"descriptors: after warm-up {warm.Fds}, at the end {end.Fds}");
        sb.AppendLine(heap.Describe());
        sb.AppendLine("heap samples (s:KiB): " + heap.Series());
        sb.Append(CultureInfo.InvariantCulture, $"unobserved task exceptions {unobserved}{(unobserved > 0 ? ": " + string.Join("; ", unobservedMessages) : "")}");
        return sb.ToString();
    }
}
