using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Supervision;
using Dgram.Actors.Tests.Actors;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Tests.Engine;

/// <summary>
/// Pull mode is recvfrom (issue 14, item 3): a socket with no subscriber and no handler is read only while a pull
/// waits, one datagram per pull, so datagrams wait in the kernel queue for the next pull. What waited there when a
/// push consumer arrives is counted as a no-consumer drop and never delivered. (Measured before the engine: 4
/// datagrams sent back to back gave 1 pulled and 3 no-consumer drops.) Each test has an actor system with one engine
/// thread, the socket under test and a witness socket beside it on that thread (see <see cref="AfterTheEngineLooked"/>).
/// </summary>
public abstract class PullModeTests : ActorTestBase, IAsyncLifetime
{
    private readonly LabFamily _f;
    private readonly StampCounter _witness = new();
    private ActorSystem? _system;
    private SocketClient _client = null!;
    private DatagramSocket _tx = null!, _witnessTx = null!;
    private IPEndPoint _witnessAt = null!;
    private int _port;

    protected PullModeTests(LabFamily family, ITestOutputHelper output) : base(output) => _f = family;

    public async Task InitializeAsync()
    {
        _system = EngineRig.OneThread("pull", Output);
        _port = LabNet.NextPort();
        _client = await SocketClient.StartAsync(_system, new SocketSettings
        {
            Name = "pull-" + _port, Family = _f.Family, LocalEndPoint = new IPEndPoint(_f.Any, _port),
        });
        (_, _witnessAt) = await EngineRig.Start(_system, "witness", _witness);
        _tx = Core(_f.Family);
        _witnessTx = Core(AddressFamily.InterNetwork);
    }

    public async Task DisposeAsync()
    {
        if (_system is not null) await _system.Terminate();
    }

    /// <summary>A span handler that keeps each payload as text.</summary>
    private sealed class Recorder : IDatagramHandler
    {
        public BlockingCollection<string> Texts { get; } = [];

        public bool OnDatagram(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> sourceAddress, in ReceiveResult result, long sequence)
        {
            Texts.Add(Encoding.UTF8.GetString(payload));
            return true;
        }

        public void OnStatus(SocketStatus status)
        {
        }
    }

    private void Send(params IEnumerable<string> texts)
    {
        foreach (string text in texts) SendText(_tx, _f.Loopback, _port, text); // queued by the time sendto returns (loopback)
    }

    /// <summary>
    /// The socket's counters once the engine has had its chance to read what was sent so far: a marker to the witness
    /// socket on the same (only) engine thread, sent after, is handled after any read of the socket under test would
    /// have been, since epoll reports readiness in the order it came. So "nothing read" here is not a race won.
    /// </summary>
    private async Task<SocketCounters> AfterTheEngineLooked()
    {
        EngineRig.Send(_witnessTx, _witnessAt, EngineRig.Marker);
        Assert.True(_witness.WaitForMarker(Arrival), "the witness socket got nothing: is the engine thread stuck?");
        return (await _client.GetStateAsync()).Counters;
    }

    private async Task<string> Pull()
    {
        PullResult got = await _client.ReceiveFromAsync(Arrival);
        if (got.TimedOut)
        {
            SocketState s = await _client.GetStateAsync();
            Assert.Fail($"a pull timed out while a datagram waited in the kernel queue ({s.Counters.DatagramsReceived} read so far, " +
                $"no-consumer drops {s.Counters.NoConsumerDrops}, kernel drops {s.KernelQueueDrops}, restarts {s.Counters.Restarts})");
        }
        return Text(got.Datagram!);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(100)]
    public async Task PullLoop_DatagramsSentBackToBack_EachPullGetsTheNextInOrder_NoneCountedDropped(int count)
    {
        Send(Enumerable.Range(0, count).Select(i => "d" + i));
        Assert.Equal(0, (await AfterTheEngineLooked()).DatagramsReceived); // no pull yet: nothing read

        for (int i = 0; i < count; i++) Assert.Equal("d" + i, await Pull());
        Send("marker");
        Assert.Equal("marker", await Pull()); // nothing else was left in between

        SocketState state = await _client.GetStateAsync();
        Assert.Equal((count + 1L, 0L, 0L, 0L), (state.Counters.DatagramsReceived, state.Counters.NoConsumerDrops, state.Counters.KernelDrops, state.KernelQueueDrops));
    }

    [Fact]
    public async Task PullThatTimedOut_ReadsNothingMore_ALaterDatagramWaitsForTheNextPull()
    {
        Assert.True((await _client.ReceiveFromAsync(TimeSpan.FromMilliseconds(50))).TimedOut);
        Send("late");
        Assert.Equal(0, (await AfterTheEngineLooked()).DatagramsReceived); // waits in the kernel: no pull, no consumer
        Assert.Equal("late", await Pull());
        Assert.Equal(0, (await _client.GetStateAsync()).Counters.NoConsumerDrops);
    }

    [Fact]
    public async Task AfterPulls_DatagramsThatWaitedWithNoPull_AreCountedAsNoConsumerDrops_WhenASubscriberArrives_AndNeverDelivered()
    {
        Send("p0", "p1");
        Assert.Equal("p0", await Pull());
        Assert.Equal("p1", await Pull());
        Send("w0", "w1", "w2"); // no pull waits now, no consumer: they wait in the kernel queue
        SocketCounters idle = await AfterTheEngineLooked();
        Assert.Equal((2L, 0L), (idle.DatagramsReceived, idle.NoConsumerDrops));

        var probe = CreateTestProbe(_system!);
        await _client.SubscribeAsync(probe); // answered once what waited was read and counted
        SocketState subscribed = await _client.GetStateAsync();
        Assert.Equal((5L, 3L), (subscribed.Counters.DatagramsReceived, subscribed.Counters.NoConsumerDrops));
        Send("fresh");
        Assert.Equal("fresh", Text(probe.ExpectMsg<Received>(Arrival))); // the first it gets: none of w0..w2
    }

    [Fact]
    public async Task AfterPulls_DatagramsThatWaitedWithNoPull_AreCountedAsNoConsumerDrops_WhenASpanHandlerArrives_AndNeverDelivered()
    {
        Send("p0");
        Assert.Equal("p0", await Pull());
        Send("w0", "w1", "w2", "w3");
        SocketCounters idle = await AfterTheEngineLooked();
        Assert.Equal((1L, 0L), (idle.DatagramsReceived, idle.NoConsumerDrops));

        var recorder = new Recorder();
        await _client.AddHandlerAsync(recorder);
        SocketState added = await _client.GetStateAsync();
        Assert.Equal((5L, 4L), (added.Counters.DatagramsReceived, added.Counters.NoConsumerDrops));
        Send("fresh");
        Assert.True(recorder.Texts.TryTake(out string? first, Arrival), "the handler got nothing");
        Assert.Equal("fresh", first);
    }
}

[Trait("Area", "Actor")]
public sealed class PullModeTestsV4(ITestOutputHelper output) : PullModeTests(LabFamily.V4, output);

[Trait("Area", "Actor")]
public sealed class PullModeTestsV6(ITestOutputHelper output) : PullModeTests(LabFamily.V6, output);
