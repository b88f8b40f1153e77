using System.Net;
using System.Reactive.Linq;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Actors;
using Dgram.Actors.Tests.Lab;
using Dgram.Rx;
using Xunit;
using Xunit.Abstractions;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Tests.Security;

/// <summary>
/// Nothing a sender or a caller does grows a queue without bound: an actor subscriber's mailbox, a PipeTo,
/// told sends, the send sink and pending pulls each stop at their bound, and every datagram or command
/// beyond it is counted or answered at once. A "stalled" actor blocks on its first message until the test
/// releases it, so its mailbox depth is exactly what the library let in.
/// </summary>
[Trait("Area", "Security")]
public sealed class BoundedFlowTests(ITestOutputHelper output) : ActorTestBase(output)
{
    private static readonly LabFamily F = LabFamily.V4;

    /// <summary>Blocks on its first message until the gate opens, then forwards every message to <paramref name="report"/>.</summary>
    private sealed class Stalled(ManualResetEventSlim gate, IActorRef report) : UntypedActor
    {
        protected override void OnReceive(object message)
        {
            gate.Wait();
            report.Tell(message);
        }
    }

    private readonly List<ManualResetEventSlim> _gates = [];

    /// <summary>A gate that the test opens, and that is opened anyway when the test ends, so a failed assertion never leaves a thread blocked.</summary>
    private ManualResetEventSlim Gate()
    {
        var gate = new ManualResetEventSlim(false);
        lock (_gates) _gates.Add(gate);
        return gate;
    }

    protected override void AfterAll()
    {
        lock (_gates) _gates.ForEach(g => g.Set());
        base.AfterAll();
    }

    private (IActorRef Actor, ManualResetEventSlim Gate, Akka.TestKit.TestProbe Report) StalledActor()
    {
        var gate = Gate();
        var report = CreateTestProbe();
        return (Sys.ActorOf(Props.Create(() => new Stalled(gate, report))), gate, report);
    }

    private static int Depth(IActorRef actor) => ((ActorRefWithCell)actor).Underlying.NumberOfMessages;

    /// <summary>Sends <paramref name="count"/> datagrams in bursts small enough for the receive buffer, waiting until the socket has read each burst.</summary>
    private async Task Flood(SocketClient client, int port, int count)
    {
        var tx = Core(F.Family, new DatagramSocketOptions());
        var to = new IPEndPoint(F.Loopback, port);
        byte[] payload = new byte[64];
        for (int sent = 0; sent < count;)
        {
            for (int i = 0; i < 50 && sent < count; i++, sent++) tx.SendTo(payload, to, Arrival);
            int target = sent;
            await AwaitConditionAsync(async () => (await client.GetStateAsync()).Counters.DatagramsReceived >= target, Arrival);
        }
    }

    [Fact]
    public async Task Subscribe_StalledActor_MailboxStaysWithinCapacity_EveryOtherDatagramCountedAsDropped()
    {
        var (client, port) = await StartReceiver(F);
        var (actor, gate, report) = StalledActor();
        await client.SubscribeAsync(actor, new MailboxLimit(100));

        await Flood(client, port, 3000);

        SocketState state = await client.GetStateAsync();
        SubscriberState s = Assert.Single(state.Subscribers);
        Assert.True(Depth(actor) <= 100, $"mailbox holds {Depth(actor)}");
        Assert.Equal(3000, state.Counters.DatagramsReceived);
        Assert.Equal(3000, s.Delivered + s.Dropped);
        Assert.InRange(s.Delivered, 100, 101); // 100 in the mailbox, plus the one the actor holds
        Assert.Equal(s.Dropped, state.Counters.SubscriberDrops);
        Assert.Equal(0, state.Counters.NoConsumerDrops);

        gate.Set();
        var got = report.ReceiveN((int)s.Delivered, Arrival);
        Assert.All(got, m => Assert.IsType<Received>(m));
        // Still subscribed once it has caught up: the next datagram arrives.
        Core(F.Family, new DatagramSocketOptions()).SendTo(new byte[] { 1 }, new IPEndPoint(F.Loopback, port), Arrival);
        report.ExpectMsg<Received>(r => r.Payload.Length == 1, Arrival);
    }

    [Fact]
    public async Task Subscribe_DefaultLimit_IsBounded()
    {
        var (client, port) = await StartReceiver(F);
        var (actor, gate, _) = StalledActor();
        await client.SubscribeAsync(actor);

        await Flood(client, port, 1500);

        SubscriberState s = Assert.Single((await client.GetStateAsync()).Subscribers);
        Assert.Equal(MailboxLimit.Default, s.Limit);
        Assert.True(Depth(actor) <= 1024, $"mailbox holds {Depth(actor)}");
        Assert.Equal(1500, s.Delivered + s.Dropped);
        Assert.True(s.Dropped >= 1500 - 1025, $"dropped {s.Dropped}");
        gate.Set();
    }

    [Fact]
    public async Task Subscribe_Backpressure_ReadLoopWaitsForRoom_KernelQueueTakesTheLoad_NothingDroppedForTheSubscriber()
    {
        var (client, port) = await StartReceiver(F, s => s with { ReceiveBufferSize = 1 << 20 });
        var (actor, gate, report) = StalledActor();
        await client.SubscribeAsync(actor, new MailboxLimit(20, MailboxOverflow.Backpressure));

        var tx = Core(F.Family, new DatagramSocketOptions());
        var to = new IPEndPoint(F.Loopback, port);
        for (int i = 0; i < 200; i++) tx.SendTo(BitConverter.GetBytes(i), to, Arrival);
        // The loop reads a batch, fills the mailbox to its bound and waits: the rest stays in the kernel queue.
        await AwaitConditionAsync(async () => (await client.GetStateAsync()).ReadingSuspended, Arrival);
        Assert.True(Depth(actor) <= 20, $"mailbox holds {Depth(actor)}");

        gate.Set();
        var got = report.ReceiveN(200, Arrival).Cast<Received>().Select(r => BitConverter.ToInt32(r.Payload.Span));
        Assert.Equal(Enumerable.Range(0, 200), got);
        SocketState state = await client.GetStateAsync();
        Assert.Equal(0, state.Counters.SubscriberDrops);
        Assert.Equal(0, state.Counters.KernelDrops);
        Assert.False(state.ReadingSuspended);
    }

    [Fact]
    public async Task Subscribe_FailPolicy_EndsTheSubscriptionWithSubscriptionOverflowed()
    {
        var (client, port) = await StartReceiver(F);
        var (actor, gate, report) = StalledActor();
        await client.SubscribeAsync(actor, new MailboxLimit(10, MailboxOverflow.Fail));

        await Flood(client, port, 200);

        SocketState state = await client.GetStateAsync();
        Assert.Empty(state.Subscribers);
        // Told until the mailbox held 10 (11 when the actor had already taken its first), then one dropped and
        // the subscription ended: the rest had no consumer.
        Assert.Equal(1, state.Counters.SubscriberDrops);
        long told = 200 - 1 - state.Counters.NoConsumerDrops;
        Assert.InRange(told, 10, 11);
        gate.Set();
        var messages = report.ReceiveN((int)told + 1, Arrival);
        Assert.Equal(told, messages.Count(m => m is Received));
        var overflowed = Assert.IsType<SubscriptionOverflowed>(messages.Last());
        Assert.Equal(10, overflowed.Capacity);
    }

    [Fact]
    public async Task Subscribe_RemoteOrMinimalReference_IsRefused()
    {
        var (client, _) = await StartReceiver(F);
        var e = await Assert.ThrowsAsync<DatagramSocketException>(() => client.SubscribeAsync(Sys.DeadLetters));
        Assert.Equal(DatagramSocketError.InvalidArgument, e.Error);
        var range = await Assert.ThrowsAsync<DatagramSocketException>(() => client.SubscribeAsync(TestActor, new MailboxLimit(0)));
        Assert.Equal(DatagramSocketError.OutOfRange, range.Error);
        Assert.Empty((await client.GetStateAsync()).Subscribers);
    }

    [Fact]
    public void PipeTo_StalledActor_MailboxStaysWithinCapacity_RestCounted()
    {
        var (actor, gate, report) = StalledActor();
        var stats = new SubscriberStatistics();
        using var pipe = Observable.Range(0, 100_000).PipeTo(actor, limit: new MailboxLimit(100), statistics: stats);

        Assert.True(Depth(actor) <= 100, $"mailbox holds {Depth(actor)}");
        Assert.Equal(100_000, stats.Delivered + stats.Dropped);
        Assert.InRange(stats.Delivered, 100, 101);
        gate.Set();
        report.ReceiveN((int)stats.Delivered, Arrival);
    }

    [Fact]
    public async Task PipeTo_Backpressure_WaitsForRoom_NothingDropped()
    {
        var (actor, gate, report) = StalledActor();
        var stats = new SubscriberStatistics();
        var completed = new TaskCompletionSource();
        // The producer runs on a thread of its own: OnNext blocks there while the mailbox is full.
        using var pipe = Observable.Range(0, 5_000, System.Reactive.Concurrency.NewThreadScheduler.Default)
            .Finally(completed.SetResult)
            .PipeTo(actor, onCompleted: () => "done", limit: new MailboxLimit(100, MailboxOverflow.Backpressure), statistics: stats);

        await AwaitConditionAsync(() => Task.FromResult(Volatile.Read(ref stats._delivered) >= 100), Arrival);
        Assert.False(completed.Task.IsCompleted);
        Assert.True(Depth(actor) <= 100, $"mailbox holds {Depth(actor)}");
        gate.Set();
        var got = report.ReceiveN(5_001, Arrival);
        Assert.Equal(Enumerable.Range(0, 5_000).Cast<object>().Append("done"), got);
        Assert.Equal(0, stats.Dropped);
    }

    [Fact]
    public void PipeTo_NotALocalActor_IsRefused()
    {
        Assert.Throws<ArgumentException>(() => Observable.Range(0, 1).PipeTo(Sys.DeadLetters));
    }

    /// <summary>Runs <paramref name="hold"/> on the incarnation's thread until the gate opens: commands told meanwhile wait in the socket's queue.</summary>
    private ManualResetEventSlim HoldIncarnation(SocketClient client, IActorRef sender)
    {
        var gate = Gate();
        client.Socket.Tell(new Dgram.Actors.Actors.TestHook(_ => gate.Wait()), sender);
        return gate;
    }

    [Fact]
    public async Task ToldSends_BeyondMaxQueuedCommands_AreRefusedAtOnce_Counted_TheRestSent()
    {
        var (client, _) = await StartReceiver(F, s => s with { MaxQueuedCommands = 50 });
        var rx = Core(F.Family, new DatagramSocketOptions());
        int port = LabNet.NextPort();
        rx.Bind(new IPEndPoint(F.Loopback, port));
        var probe = CreateTestProbe();
        ManualResetEventSlim gate = HoldIncarnation(client, probe);

        var to = new IPEndPoint(F.Loopback, port);
        for (int i = 0; i < 200; i++) client.Socket.Tell(new Send(new byte[] { (byte)i }, to), probe);
        // The hook holds one place: 49 sends wait, 151 are refused without waiting for the incarnation.
        var refused = probe.ReceiveN(151, Arrival).Cast<CommandFailed>().ToList();
        Assert.All(refused, f => Assert.Equal(DatagramSocketError.Overloaded, f.Cause.Error));
        Assert.All(refused, f => Assert.Equal("ENOBUFS", f.Cause.ErrorName));

        gate.Set();
        probe.ExpectMsg<Dgram.Actors.Actors.TestHook>(Arrival);
        var sent = probe.ReceiveN(49, Arrival);
        Assert.All(sent, m => Assert.Equal(SendStatus.Sent, Assert.IsType<Sent>(m).Result.Status));
        Assert.Equal(151, (await client.GetStateAsync()).Counters.CommandsRefused);
    }

    [Fact]
    public async Task SendSink_BeyondMaxInFlight_OverloadOutcomesAtOnce_TheRestSentInOrder()
    {
        var (client, _) = await StartReceiver(F);
        var rx = Core(F.Family, new DatagramSocketOptions());
        int port = LabNet.NextPort();
        rx.Bind(new IPEndPoint(F.Loopback, port));
        ManualResetEventSlim gate = HoldIncarnation(client, TestActor);
        var sink = client.SendSink(maxInFlight: 10);
        var outcomes = new List<SendOutcome>();
        using var results = sink.Results.Subscribe(o => { lock (outcomes) outcomes.Add(o); });

        byte[] reused = new byte[1];
        for (int i = 0; i < 50; i++)
        {
            reused[0] = (byte)i; // the caller reuses its buffer: the sink took a copy
            sink.OnNext(new OutgoingDatagram(reused, new IPEndPoint(F.Loopback, port)));
        }
        lock (outcomes) Assert.Equal(40, outcomes.Count);
        Assert.Equal(40, sink.Overloaded);
        lock (outcomes) Assert.All(outcomes, o => Assert.Equal(DatagramSocketError.Overloaded, Assert.IsType<DatagramSocketException>(o.Error).Error));

        gate.Set();
        await AwaitConditionAsync(() => { lock (outcomes) return Task.FromResult(outcomes.Count == 50); }, Arrival);
        byte[] buffer = new byte[4];
        for (int i = 0; i < 10; i++)
        {
            ReceiveResult r = rx.ReceiveFrom(buffer, (SocketAddress?)null, Arrival);
            Assert.Equal(i, buffer[0]);
        }
    }

    [Fact]
    public async Task TimedOutPulls_LeaveTheQueue_WithoutTraffic()
    {
        var (client, _) = await StartReceiver(F, s => s with { MaxQueuedCommands = 20 });
        for (int round = 0; round < 5; round++)
        {
            var pulls = Enumerable.Range(0, 19).Select(_ => client.ReceiveFromAsync(TimeSpan.FromMilliseconds(1))).ToArray();
            Assert.All(await Task.WhenAll(pulls), p => Assert.True(p.TimedOut));
        }
        // Had the 95 timed-out pulls stayed queued, this one would be refused as overloaded.
        Assert.True((await client.ReceiveFromAsync(TimeSpan.FromMilliseconds(1))).TimedOut);
        Assert.Equal(0, (await client.GetStateAsync()).Counters.CommandsRefused);
    }
}
