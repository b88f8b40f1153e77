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
/// The rule for consumers that block (issue 14, item 2): a span handler that holds a shared engine thread longer
/// than <c>dgram.engine.blocking-budget</c> (100 ms by default) has its socket moved to a thread of its own
/// (<c>dgram-read-NAME</c>), and the other sockets of that thread go on being read. One engine thread, socket A's
/// handler blocks on its first datagram until the test releases it, and ten other sockets receive a paced stream
/// meanwhile.
/// </summary>
[Trait("Area", "Actor")]
public sealed class BlockingConsumerTests
{
    private const int Others = 10, PerSecond = 1000;
    private static readonly TimeSpan Arrival = TimeSpan.FromSeconds(10);
    private readonly ITestOutputHelper _output;

    public BlockingConsumerTests(ITestOutputHelper output)
    {
        LabNet.Require();
        _output = output;
    }

    /// <summary>Blocks on its first datagram until released; counts the rest like a <see cref="StampCounter"/>.</summary>
    private sealed class BlockingHandler : IDatagramHandler
    {
        private readonly ManualResetEventSlim _entered = new(), _release = new();
        private volatile bool _inside;

        public StampCounter After { get; } = new();

        /// <summary>The thread the blocking call ran on: its name then, and its managed id.</summary>
        public string? BlockedThread { get; private set; }

        public int BlockedThreadId { get; private set; }

        /// <summary>True while the first call is blocked.</summary>
        public bool Inside => _inside;

        public bool WaitEntered(TimeSpan timeout) => _entered.Wait(timeout);

        public void Release() => _release.Set();

        public bool OnDatagram(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> sourceAddress, in ReceiveResult result, long sequence)
        {
            if (_entered.IsSet) return After.OnDatagram(payload, sourceAddress, in result, sequence);
            BlockedThread = Thread.CurrentThread.Name;
            BlockedThreadId = Environment.CurrentManagedThreadId;
            _inside = true;
            _entered.Set();
            _release.Wait(TimeSpan.FromSeconds(60)); // bounded: a failed test never leaves the thread stuck
            _inside = false;
            return true;
        }

        public void OnStatus(SocketStatus status)
        {
        }
    }

    /// <summary>What the stream's sockets saw while A's handler was blocked.</summary>
    private sealed record Blocked(BlockingHandler A, SocketClient AClient, IPEndPoint AAt, StampCounter[] Counters, SocketClient[] Clients,
        IPEndPoint[] Targets, int Sent, int SentToA)
    {
        /// <summary>Ends each stream: once its marker is in, every datagram sent before it arrived or was dropped.</summary>
        public void SendMarkers(DatagramSocket tx)
        {
            foreach (IPEndPoint to in Targets) EngineRig.Send(tx, to, EngineRig.Marker);
        }

        public void AssertMarkersArrive()
        {
            for (int i = 0; i < Counters.Length; i++) Assert.True(Counters[i].WaitForMarker(Arrival), $"stream socket {i} never got its marker");
        }

        /// <summary>
        /// Ends each stream while its queue may still be full: a marker that finds no room is dropped too, so it is
        /// sent again until one arrives. Returns per socket how many markers the kernel dropped.
        /// </summary>
        public int[] SendMarkersUntilSeen(DatagramSocket tx)
        {
            var dropped = new int[Targets.Length];
            for (int i = 0; i < Targets.Length; i++)
            {
                int sent = 0;
                bool seen;
                do
                {
                    EngineRig.Send(tx, Targets[i], EngineRig.Marker);
                    sent++;
                } while (!(seen = Counters[i].WaitForMarker(TimeSpan.FromMilliseconds(500))) && sent < 20);
                Assert.True(seen, $"stream socket {i} never got its marker");
                dropped[i] = sent - 1;
            }
            return dropped;
        }
    }

    /// <summary>
    /// Starts A and ten stream sockets on <paramref name="system"/> (one engine thread), blocks A's handler with one
    /// datagram, then sends the ten a paced stream (and A a few datagrams) for <paramref name="duration"/>. A is still
    /// blocked when it returns.
    /// </summary>
    private static async Task<Blocked> BlockAndStream(ActorSystem system, DatagramSocket tx, TimeSpan duration)
    {
        var blocker = new BlockingHandler();
        var (a, aAt) = await EngineRig.Start(system, "blocked", blocker);
        var counters = new StampCounter[Others];
        var clients = new SocketClient[Others];
        var targets = new IPEndPoint[Others];
        for (int i = 0; i < Others; i++)
        {
            counters[i] = new StampCounter();
            (clients[i], targets[i]) = await EngineRig.Start(system, "stream", counters[i]);
        }

        EngineRig.Send(tx, aAt, 0); // the datagram A's handler blocks on
        Assert.True(blocker.WaitEntered(Arrival), "A's handler never got its first datagram");
        int sent = await EngineRig.OnOwnThread(() => EngineRig.Paced(tx, targets, PerSecond, duration));
        const int sentToA = 20; // wait in A's kernel queue until its handler returns
        for (int s = 0; s < sentToA; s++) EngineRig.Send(tx, aAt, s);
        return new Blocked(blocker, a, aAt, counters, clients, targets, sent, sentToA);
    }

    [Fact]
    public async Task SpanHandlerBlocksASharedThread_ItsSocketMovesToAThreadOfItsOwn_TenOtherSocketsOnTheThreadLoseNothing()
    {
        using DatagramSocket tx = EngineRig.Sender();
        ActorSystem system = EngineRig.OneThread("blocking", _output);
        Blocked? run = null;
        try
        {
            var clock = Stopwatch.StartNew();
            run = await BlockAndStream(system, tx, TimeSpan.FromSeconds(2));
            run.SendMarkers(tx);
            run.AssertMarkersArrive();
            TimeSpan streamed = clock.Elapsed;
            Assert.True(run.A.Inside, "A's handler returned before the stream ended: it did not block throughout");
            Assert.StartsWith("dgram-io-", run.A.BlockedThread);

            for (int i = 0; i < Others; i++)
            {
                StampCounter c = run.Counters[i];
                Assert.Equal((run.Sent, 0L), (c.Count, c.OutOfOrder));
                Assert.StartsWith("dgram-io-", c.Thread); // still a shared engine thread, not one of its own
                SocketState state = await run.Clients[i].GetStateAsync();
                Assert.Equal((0L, 0L, 0L), (state.Counters.NoConsumerDrops, state.Counters.KernelDrops, state.KernelQueueDrops));
            }

            // Released, A reads again: first what waited in its queue, on the thread its handler blocked.
            run.A.Release();
            EngineRig.Send(tx, run.AAt, EngineRig.Marker);
            Assert.True(run.A.After.WaitForMarker(Arrival), "A got nothing after its handler returned");
            Assert.Equal((run.SentToA, 0L), (run.A.After.Count, run.A.After.OutOfOrder));
            // A request answered by A's engine thread: served once that thread runs A's own loop (and has its name).
            await run.AClient.SuspendReadingAsync();
            await run.AClient.ResumeReadingAsync();
            // Later datagrams: on that same thread, now A's own.
            EngineRig.Send(tx, run.AAt, run.SentToA);
            EngineRig.Send(tx, run.AAt, EngineRig.Marker);
            Assert.True(run.A.After.WaitForMarker(Arrival), "A's later datagram never came");
            Assert.Equal((run.SentToA + 1L, 0L), (run.A.After.Count, run.A.After.OutOfOrder));
            SocketState aState = await run.AClient.GetStateAsync();
            Assert.Equal(("dgram-read-" + aState.Name, run.A.BlockedThreadId), (run.A.After.Thread, run.A.After.ThreadId));
            Assert.All(run.Counters, c => Assert.NotEqual(run.A.BlockedThreadId, c.ThreadId)); // the others went to a new thread
            Assert.Equal((0L, 0L), (aState.Counters.NoConsumerDrops, aState.Counters.KernelDrops));
            _output.WriteLine($"{Others} sockets × {run.Sent} datagrams at {PerSecond}/s each arrived while A was blocked ({streamed.TotalSeconds:F1} s); " +
                $"A then got its {run.SentToA + 1} on {run.A.After.Thread}");
        }
        finally
        {
            run?.A.Release();
            await system.Terminate();
        }
    }

    /// <summary>
    /// The rule's counterpart, which shows that the hand-off is what protects the other sockets: with a budget longer
    /// than the block, the shared thread stays inside A's handler, the ten sockets get nothing while it blocks, and their
    /// kernel queues overflow (counted as kernel drops once they are read again).
    /// </summary>
    [Fact]
    public async Task BudgetLongerThanTheBlock_Counterpart_OtherSocketsGetNothingWhileItBlocks_AndTheirQueuesOverflow()
    {
        using DatagramSocket tx = EngineRig.Sender();
        ActorSystem system = EngineRig.OneThread("no-handoff", _output, "dgram.engine.blocking-budget = 1m");
        Blocked? run = null;
        try
        {
            run = await BlockAndStream(system, tx, TimeSpan.FromSeconds(1));
            // The thread is inside A's handler (it still is): no stream socket can have been read.
            Assert.True(run.A.Inside);
            Assert.All(run.Counters, c => Assert.Equal(0, c.Count));

            run.A.Release();
            int[] markersDropped = run.SendMarkersUntilSeen(tx);
            long kernelDrops = 0, delivered = 0;
            for (int i = 0; i < Others; i++)
            {
                SocketState state = await run.Clients[i].GetStateAsync();
                Assert.Equal(state.KernelQueueDrops, state.Counters.KernelDrops);
                // Every datagram is accounted for: delivered, or dropped by the kernel (as were the markers that found no room).
                Assert.Equal(run.Sent + markersDropped[i], run.Counters[i].Count + state.Counters.KernelDrops);
                kernelDrops += state.Counters.KernelDrops;
                delivered += run.Counters[i].Count;
            }
            Assert.True(kernelDrops > 0, "nothing overflowed: did the queues outlast the block?");
            _output.WriteLine($"without hand-off: {delivered} of {Others * run.Sent} delivered after the release, {kernelDrops} dropped by the kernel");
        }
        finally
        {
            run?.A.Release();
            await system.Terminate();
        }
    }
}
