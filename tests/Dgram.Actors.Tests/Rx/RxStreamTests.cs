using System.Collections.Concurrent;
using System.Net;
using System.Reactive.Linq;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Tests.Actors;
using Dgram.Actors.Tests.Lab;
using Dgram.Rx;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Rx;

/// <summary>Hot datagram streams of a socket actor, fed by real datagrams in the lab, for IPv4 and IPv6.</summary>
public abstract class RxStreamTests : ActorTestBase
{
    private readonly LabFamily _f;

    protected RxStreamTests(LabFamily family, ITestOutputHelper output) : base(output) => _f = family;

    private async Task<(SocketClient Client, int Port, DatagramStreams Streams)> Open(Func<SocketSettings, SocketSettings>? configure = null)
    {
        var (client, port) = await StartReceiver(_f, configure);
        var streams = await client.OpenStreamsAsync();
        return (client, port, streams);
    }

    private void SendMany(int port, int count, string prefix = "")
    {
        var tx = Core(_f.Family);
        for (int i = 0; i < count; i++) SendText(tx, _f.Loopback, port, prefix + i);
    }

    /// <summary>Collects what an observer sees and signals when it has <paramref name="expected"/> items or a terminal event.</summary>
    private sealed class Recorder<T>(int expected, Func<T, string> text) : IObserver<T>
    {
        private int _inFlight;
        public ConcurrentQueue<string> Items { get; } = new();
        public TaskCompletionSource Enough { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource<Exception?> Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Overlapped { get; private set; }
        public bool AfterTerminal { get; private set; }
        public ManualResetEventSlim? Gate { get; init; }
        public List<string> Threads { get; } = [];

        public void OnNext(T value)
        {
            if (Interlocked.Increment(ref _inFlight) != 1) Overlapped = true;
            if (Ended.Task.IsCompleted) AfterTerminal = true;
            lock (Threads) Threads.Add(Thread.CurrentThread.Name ?? "");
            Gate?.Wait(TimeSpan.FromSeconds(10));
            Items.Enqueue(text(value));
            if (Items.Count >= expected) Enough.TrySetResult();
            Interlocked.Decrement(ref _inFlight);
        }

        public void OnError(Exception error) => Ended.TrySetResult(error);
        public void OnCompleted() => Ended.TrySetResult(null);
    }

    private static string Text(Datagram d) => System.Text.Encoding.UTF8.GetString(d.Payload.Span);

    [Fact]
    public async Task ManySubscribers_EachGetsEveryDatagramInOrder_OnNextSerialised()
    {
        var (_, port, streams) = await Open();
        var a = new Recorder<Datagram>(50, Text);
        var b = new Recorder<Datagram>(50, Text);
        var c = new Recorder<string>(50, s => s);
        using var sa = streams.Datagrams().Subscribe(a);
        using var sb = streams.Datagrams(new SubscriberOptions { Capacity = 4 }).Select(Text).Subscribe(new Recorder<string>(0, s => s));
        using var sc = streams.Leases().Select(l => { using (l) return System.Text.Encoding.UTF8.GetString(l.Span); }).Subscribe(c);
        using var sd = streams.Datagrams(new SubscriberOptions { Inline = true }).Subscribe(b);
        SendMany(port, 50);
        await Task.WhenAll(a.Enough.Task, b.Enough.Task, c.Enough.Task).WaitAsync(Arrival);
        var expected = Enumerable.Range(0, 50).Select(i => i.ToString());
        Assert.Equal(expected, a.Items);
        Assert.Equal(expected, b.Items);
        Assert.Equal(expected, c.Items);
        Assert.False(a.Overlapped || b.Overlapped || c.Overlapped);
        Assert.All(b.Threads, t => Assert.StartsWith("dgram-io-", t)); // inline: the engine thread that reads the socket
        Assert.DoesNotContain(a.Threads, t => t.StartsWith("dgram-io-", StringComparison.Ordinal));
        await AwaitAssertAsync(() => Assert.Equal(0, streams.Pool.Outstanding), Arrival);
    }

    [Fact]
    public async Task LateSubscriber_SeesOnlyWhatArrivesAfterIt_EarlierDatagramsCountedAsNoConsumer()
    {
        var (client, port, streams) = await Open();
        SendMany(port, 5, "early");
        await AwaitAssertAsync(async () => Assert.Equal(5, (await client.GetStateAsync()).Counters.NoConsumerDrops), Arrival);
        var r = new Recorder<Datagram>(1, Text);
        using var s = streams.Datagrams().Subscribe(r);
        SendMany(port, 1, "late");
        await r.Enough.Task.WaitAsync(Arrival);
        Assert.Equal(["late0"], r.Items);
    }

    [Theory]
    [InlineData(OverflowPolicy.DropNewest)]
    [InlineData(OverflowPolicy.DropOldest)]
    public async Task SlowSubscriber_DropsAreCountedExactly_FastSubscriberGetsEverything(OverflowPolicy policy)
    {
        var (_, port, streams) = await Open(s => s with { ReceiveBufferSize = 1 << 20 });
        using var gate = new ManualResetEventSlim(false);
        var slowStats = new SubscriberStatistics();
        var slow = new Recorder<Datagram>(int.MaxValue, Text) { Gate = gate };
        var fast = new Recorder<Datagram>(100, Text);
        using var s1 = streams.Datagrams(new SubscriberOptions { Capacity = 10, Overflow = policy, Statistics = slowStats }).Subscribe(slow);
        using var s2 = streams.Datagrams().Subscribe(fast);
        SendMany(port, 100);
        await fast.Enough.Task.WaitAsync(Arrival); // the blocked subscriber did not delay the other
        Assert.Equal(100, fast.Items.Count);
        // One datagram blocked in OnNext, ten queued, the rest dropped (89 or 90, by when the first was taken).
        await AwaitAssertAsync(() => Assert.True(slowStats.Dropped >= 89), Arrival);
        gate.Set();
        await AwaitAssertAsync(() => Assert.Equal(100, slowStats.Dropped + slowStats.Delivered), Arrival);
        Assert.InRange(slowStats.Dropped, 89, 90);
        var got = slow.Items.Select(int.Parse).ToList();
        if (policy == OverflowPolicy.DropOldest) Assert.Equal(Enumerable.Range(90, 10), got.TakeLast(10)); // the newest survive
        else Assert.Equal(Enumerable.Range(0, 10), got.Take(10)); // the oldest survive
        Assert.Equal(got.Order(), got); // in order, whatever was dropped
    }

    [Fact]
    public async Task PauseSocketPolicy_SuspendsReadingWhenFull_ResumesWhenDrained_NothingDroppedByTheSubscriber()
    {
        var (client, port, streams) = await Open(s => s with { ReceiveBufferSize = 1 << 20 });
        using var gate = new ManualResetEventSlim(false);
        var stats = new SubscriberStatistics();
        var slow = new Recorder<Datagram>(60, Text) { Gate = gate };
        using var s1 = streams.Datagrams(new SubscriberOptions { Capacity = 10, Overflow = OverflowPolicy.PauseSocket, Statistics = stats }).Subscribe(slow);

        // Mixing policies is refused: pausing the socket would stop the other subscriber too.
        var refused = new TaskCompletionSource<Exception>();
        using var s2 = streams.Datagrams().Subscribe(_ => { }, e => refused.TrySetResult(e));
        Assert.IsType<InvalidOperationException>(await refused.Task.WaitAsync(Arrival));

        SendMany(port, 60);
        await AwaitAssertAsync(async () => Assert.True((await client.GetStateAsync()).ReadingSuspended), Arrival);
        gate.Set();
        try
        {
            await slow.Enough.Task.WaitAsync(Arrival); // the kernel queue held the rest while reading was suspended
        }
        catch (TimeoutException)
        {
            var st = await client.GetStateAsync();
            Assert.Fail($"got {slow.Items.Count}: {string.Join(",", slow.Items)}; dropped {stats.Dropped}; suspended {st.ReadingSuspended}; counters {st.Counters}");
        }
        Assert.Equal(Enumerable.Range(0, 60).Select(i => i.ToString()), slow.Items);
        Assert.Equal(0, stats.Dropped);
        await AwaitAssertAsync(async () => Assert.False((await client.GetStateAsync()).ReadingSuspended), Arrival);
    }

    [Fact]
    public async Task FailPolicy_EndsOnlyThatSubscriptionWithOverflowError()
    {
        var (_, port, streams) = await Open(s => s with { ReceiveBufferSize = 1 << 20 });
        using var gate = new ManualResetEventSlim(false);
        var slow = new Recorder<Datagram>(int.MaxValue, Text) { Gate = gate };
        var fast = new Recorder<Datagram>(50, Text);
        using var s1 = streams.Datagrams(new SubscriberOptions { Capacity = 5, Overflow = OverflowPolicy.Fail }).Subscribe(slow);
        using var s2 = streams.Datagrams().Subscribe(fast);
        SendMany(port, 50);
        await fast.Enough.Task.WaitAsync(Arrival);
        gate.Set();
        Exception? error = await slow.Ended.Task.WaitAsync(Arrival);
        Assert.IsType<SubscriberOverflowException>(error);
        Assert.False(fast.Ended.Task.IsCompleted);
    }

    [Fact]
    public async Task DisposingALeaseSubscription_StopsDelivery_AndReturnsEveryLease()
    {
        var (_, port, streams) = await Open();
        using var gate = new ManualResetEventSlim(false);
        var seen = new ConcurrentQueue<long>();
        var blocked = new TaskCompletionSource();
        var subscription = streams.Leases(new SubscriberOptions { Capacity = 100 }).Subscribe(l =>
        {
            blocked.TrySetResult();
            gate.Wait(TimeSpan.FromSeconds(10));
            seen.Enqueue(l.Sequence);
            l.Dispose();
        });
        SendMany(port, 20);
        await blocked.Task.WaitAsync(Arrival);
        await AwaitAssertAsync(() => Assert.Equal(20, streams.Pool.Rented), Arrival);
        subscription.Dispose();
        gate.Set();
        await AwaitAssertAsync(() => Assert.Equal(0, streams.Pool.Outstanding), Arrival);
        Assert.Single(seen); // only the one already in OnNext
    }

    [Fact]
    public async Task Restart_StreamsContinue_WithoutTerminalNotification_StatusShowsRestartingAndRestored()
    {
        var (client, port, streams) = await Open(s => s with { MinBackoff = TimeSpan.FromMilliseconds(20) });
        var statuses = new ConcurrentQueue<SocketStatus>();
        using var st = streams.Status.Subscribe(statuses.Enqueue);
        var r = new Recorder<Datagram>(2, Text);
        using var s = streams.Datagrams().Subscribe(r);
        SendMany(port, 1, "before");
        await AwaitAssertAsync(() => Assert.Single(r.Items), Arrival);
        IActorRef incarnation = await Sys.ActorSelection(client.Socket.Path / "*").ResolveOne(Arrival);
        incarnation.Tell(Kill.Instance);
        await AwaitAssertAsync(() => Assert.Contains(statuses, x => x is SocketRestored), Arrival);
        SendMany(port, 1, "after");
        await r.Enough.Task.WaitAsync(Arrival);
        Assert.Equal(["before0", "after0"], r.Items);
        Assert.False(r.Ended.Task.IsCompleted);
        Assert.Contains(statuses, x => x is SocketRestarting);
    }

    [Fact]
    public async Task UnrecoverableFault_EndsEverySubscriptionWithTheCause()
    {
        // No retries: the first failure of an incarnation is final.
        var (client, _, streams) = await Open(s => s with { MaxRetries = 0 });
        var a = new Recorder<Datagram>(int.MaxValue, Text);
        var b = new Recorder<DatagramLease>(int.MaxValue, l => { l.Dispose(); return ""; });
        using var sa = streams.Datagrams().Subscribe(a);
        using var sb = streams.Leases(new SubscriberOptions { Inline = true }).Subscribe(b);
        var status = new TaskCompletionSource<Exception?>();
        using var st = streams.Status.Subscribe(_ => { }, e => status.TrySetResult(e), () => status.TrySetResult(null));
        IActorRef incarnation = await Sys.ActorSelection(client.Socket.Path / "*").ResolveOne(Arrival);
        incarnation.Tell(Kill.Instance);
        Assert.IsType<ActorKilledException>(await a.Ended.Task.WaitAsync(Arrival));
        Assert.IsType<ActorKilledException>(await b.Ended.Task.WaitAsync(Arrival));
        Assert.IsType<ActorKilledException>(await status.Task.WaitAsync(Arrival));
    }

    [Fact]
    public async Task SocketStopped_CompletesEverySubscription_NothingAfterwards()
    {
        var (client, port, streams) = await Open();
        var a = new Recorder<Datagram>(1, Text);
        var b = new Recorder<DatagramLease>(1, l => { l.Dispose(); return ""; });
        using var sa = streams.Datagrams().Subscribe(a);
        using var sb = streams.Leases(new SubscriberOptions { Inline = true }).Subscribe(b);
        SendMany(port, 1);
        await Task.WhenAll(a.Enough.Task, b.Enough.Task).WaitAsync(Arrival);
        await client.Socket.GracefulStop(Arrival);
        Assert.Null(await a.Ended.Task.WaitAsync(Arrival));
        Assert.Null(await b.Ended.Task.WaitAsync(Arrival));
        Assert.False(a.AfterTerminal || b.AfterTerminal);
        var late = new Recorder<Datagram>(1, Text);
        using var sl = streams.Datagrams().Subscribe(late);
        Assert.Null(await late.Ended.Task.WaitAsync(Arrival)); // a stopped socket completes new subscribers at once
    }

    [Fact]
    public async Task ObserverThatThrows_IsDetached_OthersAndTheReadLoopGoOn()
    {
        var (_, port, streams) = await Open();
        var good = new Recorder<Datagram>(3, Text);
        int inlineCalls = 0, bufferedCalls = 0;
        using var bad = streams.Datagrams(new SubscriberOptions { Inline = true })
            .Subscribe(_ => { Interlocked.Increment(ref inlineCalls); throw new InvalidOperationException("boom"); });
        using var bad2 = streams.Datagrams()
            .Subscribe(_ => { Interlocked.Increment(ref bufferedCalls); throw new InvalidOperationException("boom"); });
        using var s = streams.Datagrams().Subscribe(good);
        SendMany(port, 3);
        await good.Enough.Task.WaitAsync(Arrival);
        Assert.Equal(["0", "1", "2"], good.Items);
        Assert.Equal(1, inlineCalls); // detached after its first throw
        await AwaitAssertAsync(() => Assert.Equal(1, bufferedCalls), Arrival);
    }
}

[Trait("Area", "Rx")]
public sealed class RxStreamTestsV4(ITestOutputHelper output) : RxStreamTests(LabFamily.V4, output);

[Trait("Area", "Rx")]
public sealed class RxStreamTestsV6(ITestOutputHelper output) : RxStreamTests(LabFamily.V6, output);
