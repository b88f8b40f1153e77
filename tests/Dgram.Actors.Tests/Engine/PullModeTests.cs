using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Supervision;
using Dgram.Actors.Tests.Actors;
using Dgram.Actors.Tests.Lab;
using Xunit;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Tests.Engine;

/// <summary>
/// Pull mode is recvfrom (issue 14, item 3): a socket with no subscriber and no handler is read only while a pull
/// waits, one datagram per pull, so datagrams wait in the kernel queue for the next pull. What waited there when a
/// push consumer arrives is counted as a no-consumer drop and never delivered. (Measured before the engine: 4
/// datagrams sent back to back gave 1 pulled and 3 no-consumer drops.)
/// </summary>
public abstract class PullModeTests : ActorTestBase
{
    private readonly LabFamily _f;

    protected PullModeTests(LabFamily family) => _f = family;

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

    private void SendAll(DatagramSocket tx, int port, IEnumerable<string> texts)
    {
        foreach (string text in texts) SendText(tx, _f.Loopback, port, text);
    }

    private static async Task<string> Pull(SocketClient client)
    {
        PullResult got = await client.ReceiveFromAsync(Arrival);
        if (got.TimedOut)
        {
            SocketState s = await client.GetStateAsync();
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
        var (client, port) = await StartReceiver(_f);
        var tx = Core(_f.Family);
        SendAll(tx, port, Enumerable.Range(0, count).Select(i => "d" + i)); // queued by the time sendto returns (loopback)
        Assert.Equal(0, (await client.GetStateAsync()).Counters.DatagramsReceived); // no pull yet: nothing read

        for (int i = 0; i < count; i++) Assert.Equal("d" + i, await Pull(client));
        SendText(tx, _f.Loopback, port, "marker");
        Assert.Equal("marker", await Pull(client)); // nothing else was left in between

        SocketState state = await client.GetStateAsync();
        Assert.Equal((count + 1L, 0L, 0L, 0L), (state.Counters.DatagramsReceived, state.Counters.NoConsumerDrops, state.Counters.KernelDrops, state.KernelQueueDrops));
    }

    [Fact]
    public async Task PullThatTimedOut_ReadsNothingMore_ALaterDatagramWaitsForTheNextPull()
    {
        var (client, port) = await StartReceiver(_f);
        Assert.True((await client.ReceiveFromAsync(TimeSpan.FromMilliseconds(50))).TimedOut);
        var tx = Core(_f.Family);
        SendText(tx, _f.Loopback, port, "late");
        Assert.Equal(0, (await client.GetStateAsync()).Counters.DatagramsReceived); // waits in the kernel: no pull, no consumer
        Assert.Equal("late", await Pull(client));
        Assert.Equal(0, (await client.GetStateAsync()).Counters.NoConsumerDrops);
    }

    [Fact]
    public async Task AfterPulls_DatagramsThatWaitedWithNoPull_AreCountedAsNoConsumerDrops_WhenASubscriberArrives_AndNeverDelivered()
    {
        var (client, port) = await StartReceiver(_f);
        var tx = Core(_f.Family);
        SendAll(tx, port, ["p0", "p1"]);
        Assert.Equal("p0", await Pull(client));
        Assert.Equal("p1", await Pull(client));
        SendAll(tx, port, ["w0", "w1", "w2"]); // no pull waits now, no consumer: they wait in the kernel queue
        SocketState idle = await client.GetStateAsync();
        Assert.Equal((2L, 0L), (idle.Counters.DatagramsReceived, idle.Counters.NoConsumerDrops));

        var probe = CreateTestProbe();
        await client.SubscribeAsync(probe); // answered once what waited was read and counted
        SocketState subscribed = await client.GetStateAsync();
        Assert.Equal((5L, 3L), (subscribed.Counters.DatagramsReceived, subscribed.Counters.NoConsumerDrops));
        SendText(tx, _f.Loopback, port, "fresh");
        Assert.Equal("fresh", Text(probe.ExpectMsg<Received>(Arrival))); // the first it gets: none of w0..w2
    }

    [Fact]
    public async Task AfterPulls_DatagramsThatWaitedWithNoPull_AreCountedAsNoConsumerDrops_WhenASpanHandlerArrives_AndNeverDelivered()
    {
        var (client, port) = await StartReceiver(_f);
        var tx = Core(_f.Family);
        SendText(tx, _f.Loopback, port, "p0");
        Assert.Equal("p0", await Pull(client));
        SendAll(tx, port, ["w0", "w1", "w2", "w3"]);

        var recorder = new Recorder();
        await client.AddHandlerAsync(recorder);
        SocketState added = await client.GetStateAsync();
        Assert.Equal((5L, 4L), (added.Counters.DatagramsReceived, added.Counters.NoConsumerDrops));
        SendText(tx, _f.Loopback, port, "fresh");
        Assert.True(recorder.Texts.TryTake(out string? first, Arrival), "the handler got nothing");
        Assert.Equal("fresh", first);
    }
}

[Trait("Area", "Actor")]
public sealed class PullModeTestsV4() : PullModeTests(LabFamily.V4);

[Trait("Area", "Actor")]
public sealed class PullModeTestsV6() : PullModeTests(LabFamily.V6);
