using System.Diagnostics;
using System.Net;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Supervision;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Engine;

/// <summary>
/// Fairness on one engine thread (issue 14, goal "fairness"): each ready socket is read at most
/// <c>reads-per-wakeup</c> batches per wake-up, so a socket flooded at full rate (its kernel queue overflows) cannot
/// starve the 99 others on the same thread, which each receive a paced, sequence-numbered stream and lose nothing.
/// The watchdog's hand-off would also rescue them (a socket that holds the thread past the blocking budget moves
/// away), so the budget is set past the test's length: the cap alone must do it.
/// </summary>
/// <remarks>
/// On this 2-core machine one flooding thread cannot outpace one reader for long (on loopback the kernel's receive
/// work runs in the sender's context), so the flooded socket's queue would drain whenever the sender is descheduled,
/// and a reader without the cap would still let go in time. So the flooded socket is made a deep queue (4 MiB) with a
/// consumer that spends 100 µs on each datagram: without the cap one wake-up would hold the thread until that queue
/// drains, longer than the paced sockets' queues (about 256 datagrams, 256 ms) last; with it, a wake-up takes 64.
/// </remarks>
[Trait("Area", "Security")]
public sealed class FairnessTests
{
    private const int Paced = 99, PerSecond = 1000, FloodQueueBytes = 4 << 20;
    private static readonly TimeSpan FloodCost = TimeSpan.FromMicroseconds(100);
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(1.5), Arrival = TimeSpan.FromSeconds(10);
    private readonly ITestOutputHelper _output;

    public FairnessTests(ITestOutputHelper output)
    {
        LabNet.Require();
        _output = output;
    }

    /// <summary>A consumer that spends <paramref name="cost"/> on each datagram (busy, as parsing is), then counts it.</summary>
    private sealed class Costly(TimeSpan cost) : IDatagramHandler
    {
        private readonly long _ticks = (long)(cost.TotalSeconds * Stopwatch.Frequency);

        public StampCounter Counted { get; } = new();

        public bool OnDatagram(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> sourceAddress, in ReceiveResult result, long sequence)
        {
            long until = Stopwatch.GetTimestamp() + _ticks;
            while (Stopwatch.GetTimestamp() < until) { }
            return Counted.OnDatagram(payload, sourceAddress, in result, sequence);
        }

        public void OnStatus(SocketStatus status)
        {
        }
    }

    [Fact]
    public async Task OneSocketFlooded_NinetyNinePacedSocketsOnTheSameEngineThread_LoseNothing()
    {
        using DatagramSocket paceTx = EngineRig.Sender(), floodTx = EngineRig.Sender();
        // A budget past the test's length: the flooded socket stays on the shared thread, so only the cap keeps it fair.
        ActorSystem system = EngineRig.OneThread("fairness", _output, "dgram.engine.blocking-budget = 1m");
        try
        {
            var costly = new Costly(FloodCost);
            StampCounter flooded = costly.Counted;
            var (floodClient, floodAt) = await EngineRig.Start(system, "flooded", costly, s => s with { ReceiveBufferSize = FloodQueueBytes });
            var counters = new StampCounter[Paced];
            var clients = new SocketClient[Paced];
            var targets = new IPEndPoint[Paced];
            for (int i = 0; i < Paced; i++)
            {
                counters[i] = new StampCounter();
                (clients[i], targets[i]) = await EngineRig.Start(system, "paced", counters[i]);
            }

            var clock = Stopwatch.StartNew();
            Task<long> flood = EngineRig.OnOwnThread(() => EngineRig.Flood(floodTx, floodAt, Duration));
            int sent = await EngineRig.OnOwnThread(() => EngineRig.Paced(paceTx, targets, PerSecond, Duration));
            long flooding = await flood;
            TimeSpan elapsed = clock.Elapsed;
            foreach (IPEndPoint to in targets) EngineRig.Send(paceTx, to, EngineRig.Marker);
            for (int i = 0; i < Paced; i++)
            {
                if (counters[i].WaitForMarker(Arrival)) continue;
                SocketState stalled = await clients[i].GetStateAsync(); // a marker sent into a full queue is dropped too
                Assert.Fail($"paced socket {i} never got its marker: {counters[i].Count} of {sent} arrived, {stalled.KernelQueueDrops} dropped by the kernel");
            }

            SocketState floodState = await floodClient.GetStateAsync();
            Assert.True(floodState.KernelQueueDrops > 0, $"the flood ({flooding} datagrams) overflowed nothing: it did not flood");
            Assert.True(flooded.Count > 0, "the flooded socket itself was never read");
            Assert.Equal("dgram-io-0", flooded.Thread); // never handed off: one thread read them all
            long lost = 0;
            for (int i = 0; i < Paced; i++)
            {
                SocketState state = await clients[i].GetStateAsync();
                lost += sent - counters[i].Count + state.KernelQueueDrops;
                Assert.True((sent, 0L, 0L, 0L, 0L) == (counters[i].Count, counters[i].OutOfOrder, state.Counters.NoConsumerDrops, state.Counters.KernelDrops, state.KernelQueueDrops),
                    $"paced socket {i}: got {counters[i].Count} of {sent} ({counters[i].OutOfOrder} out of order), no-consumer drops {state.Counters.NoConsumerDrops}, " +
                    $"kernel drops {state.Counters.KernelDrops} (/proc {state.KernelQueueDrops})");
            }
            // The paced sender ends on time: on a busy machine it may have sent fewer than PerSecond a second (it says so).
            _output.WriteLine($"{Paced} sockets × {sent} datagrams ({sent / elapsed.TotalSeconds:F0}/s each, paced for {PerSecond}/s) in {elapsed.TotalSeconds:F2} s, " +
                $"lost {lost}; flooded socket: {flooding} sent ({flooding / elapsed.TotalSeconds:F0}/s), {flooded.Count} read, {floodState.KernelQueueDrops} dropped by the kernel");
        }
        finally
        {
            await system.Terminate();
        }
    }
}
