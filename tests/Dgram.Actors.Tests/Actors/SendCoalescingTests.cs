using System.Net;
using System.Text;
using Akka.Actor;
using Dgram.Actors.Actors;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Tests.Actors;

/// <summary>
/// Sends that wait in the mailbox go out together through sendmmsg, yet each gets its own answer, in
/// order, and the receiver sees every datagram in order. The actor is held in a test hook while the
/// sends queue, so "several sends are queued" is a fact, not a race.
/// </summary>
public abstract class SendCoalescingTests : ActorTestBase
{
    private readonly LabFamily _f;

    protected SendCoalescingTests(LabFamily family, ITestOutputHelper output) : base(output) => _f = family;

    /// <summary>A plain receiver on loopback and the endpoint to reach it.</summary>
    private (DatagramSocket Rx, IPEndPoint To) Receiver()
    {
        var rx = Core(_f.Family);
        rx.SetReceiveBufferSize(1 << 20);
        var to = new IPEndPoint(_f.Loopback, LabNet.NextPort());
        rx.Bind(to);
        return (rx, to);
    }

    /// <summary>Holds the actor inside a test hook until the returned gate is set.</summary>
    private ManualResetEventSlim Hold(IActorRef socket)
    {
        var gate = new ManualResetEventSlim();
        var entered = new ManualResetEventSlim();
        socket.Tell(new TestHook(_ => { entered.Set(); gate.Wait(TimeSpan.FromSeconds(10)); }));
        Assert.True(entered.Wait(Arrival), "the actor never ran the hook");
        return gate;
    }

    /// <summary>
    /// Releases the held actor once the supervisor has handed it every command told so far: it answers
    /// AwaitStarted itself, in mailbox order, so by then all of them wait in the incarnation's mailbox.
    /// </summary>
    private async Task Release(IActorRef socket, ManualResetEventSlim gate)
    {
        await socket.Ask<Dgram.Actors.Supervision.AwaitStarted>(Dgram.Actors.Supervision.AwaitStarted.Instance, Arrival);
        gate.Set();
    }

    private static long SendCalls(DatagramSocket s) => s.Statistics.SendSystemCalls;

    [Fact]
    public async Task QueuedSends_GoOutInFewSystemCalls_EachAnsweredInOrder_AllDeliveredInOrder()
    {
        var (client, _) = await StartReceiver(_f);
        var (rx, to) = Receiver();
        long callsBefore = await OnSocket(client, SendCalls);
        var probe = CreateTestProbe();
        const int n = 200;
        using (var gate = Hold(client.Socket))
        {
            for (int i = 0; i < n; i++) client.Socket.Tell(new Send(Encoding.ASCII.GetBytes(i.ToString()), to), probe);
            await Release(client.Socket, gate);
        }
        long lastSequence = -1;
        for (int i = 0; i < n; i++)
        {
            var sent = probe.ExpectMsg<Sent>(Arrival);
            Assert.Equal(SendStatus.Sent, sent.Result.Status);
            Assert.Equal(i.ToString().Length, sent.Result.BytesSent);
            Assert.True(sent.Sequence > lastSequence);
            lastSequence = sent.Sequence;
        }
        byte[] buffer = new byte[16];
        for (int i = 0; i < n; i++)
        {
            var got = rx.ReceiveFrom(buffer, (SocketAddress?)null, Arrival);
            Assert.Equal(ReceiveStatus.Received, got.Status);
            Assert.Equal(i.ToString(), Encoding.ASCII.GetString(buffer, 0, got.BytesReceived));
        }
        long calls = await OnSocket(client, SendCalls) - callsBefore;
        // 200 queued sends in batches of 64: 4 sendmmsg calls when the kernel takes each batch whole.
        Assert.InRange(calls, 1, 10);
        Assert.Equal(n, (await client.GetStateAsync()).Counters.DatagramsSent);
    }

    [Fact]
    public async Task QueuedEqualSizeSendsToOneGroup_GoOutAsGsoSends_ArriveAsSeparateDatagramsInOrder()
    {
        var (client, _) = await StartReceiver(_f);
        var rx = Core(_f.Family);
        rx.SetReceiveBufferSize(1 << 20);
        IPAddress group = _f.NewGroup();
        int port = LabNet.NextPort();
        rx.Bind(new IPEndPoint(_f.Any, port));
        rx.JoinGroup(group, LabNet.Rx0);
        await client.SetMulticastInterfaceAsync(LabNet.Tx0);
        var to = new IPEndPoint(group, port);
        long callsBefore = await OnSocket(client, SendCalls);
        var probe = CreateTestProbe();
        const int n = 100;
        using (var gate = Hold(client.Socket))
        {
            for (int i = 0; i < n; i++) client.Socket.Tell(new Send(Encoding.ASCII.GetBytes($"gso-{i:D3}"), to), probe);
            await Release(client.Socket, gate);
        }
        for (int i = 0; i < n; i++) Assert.Equal(7, probe.ExpectMsg<Sent>(Arrival).Result.BytesSent);
        byte[] buffer = new byte[64];
        for (int i = 0; i < n; i++)
        {
            var got = rx.ReceiveFrom(buffer, (SocketAddress?)null, Arrival);
            Assert.Equal($"gso-{i:D3}", Encoding.ASCII.GetString(buffer, 0, got.BytesReceived));
        }
        // 64 + 36 segments: two sendmsg calls with UDP_SEGMENT, none fallen back.
        Assert.Equal(2, await OnSocket(client, SendCalls) - callsBefore);
        Assert.Equal(0, await OnSocket(client, s => s.Statistics.SegmentationFallbacks));
    }

    [Fact]
    public async Task QueuedSends_ABadDestinationAndALongDatagramInTheMiddle_OnlyTheBadOneFails_OrderKept()
    {
        var (client, _) = await StartReceiver(_f);
        var (rx, to) = Receiver();
        var wrongFamily = new IPEndPoint(_f.IsV6 ? IPAddress.Loopback : IPAddress.IPv6Loopback, to.Port);
        byte[] big = new byte[3000]; // longer than a batch slot: goes alone, in its place
        big.AsSpan().Fill((byte)'b');
        var probe = CreateTestProbe();
        using (var gate = Hold(client.Socket))
        {
            client.Socket.Tell(new Send(Encoding.ASCII.GetBytes("first"), to), probe);
            client.Socket.Tell(new Send(Encoding.ASCII.GetBytes("lost"), wrongFamily), probe);
            client.Socket.Tell(new Send(big, to), probe);
            client.Socket.Tell(new Send(Encoding.ASCII.GetBytes("last"), to), probe);
            await Release(client.Socket, gate);
        }
        Assert.Equal(SendStatus.Sent, probe.ExpectMsg<Sent>(Arrival).Result.Status);
        var failed = probe.ExpectMsg<CommandFailed>(Arrival);
        Assert.Equal(DatagramSocketError.FamilyMismatch, ((DatagramSocketException)failed.Cause).Error);
        Assert.Equal(3000, probe.ExpectMsg<Sent>(Arrival).Result.BytesSent);
        Assert.Equal(SendStatus.Sent, probe.ExpectMsg<Sent>(Arrival).Result.Status);

        byte[] buffer = new byte[4096];
        Assert.Equal("first", Encoding.ASCII.GetString(buffer, 0, rx.ReceiveFrom(buffer, (SocketAddress?)null, Arrival).BytesReceived));
        Assert.Equal(3000, rx.ReceiveFrom(buffer, (SocketAddress?)null, Arrival).BytesReceived);
        Assert.Equal("last", Encoding.ASCII.GetString(buffer, 0, rx.ReceiveFrom(buffer, (SocketAddress?)null, Arrival).BytesReceived));
        Assert.Equal(ReceiveStatus.TimedOut, rx.ReceiveFrom(buffer, (SocketAddress?)null, TimeSpan.Zero).Status);
    }

    [Fact]
    public async Task QueuedSends_AnOptionChangeBetweenThem_AppliesBetweenThem()
    {
        // The TTL read back by the receiver shows which sends went before and which after the change.
        var (client, _) = await StartReceiver(_f);
        var rx = Core(_f.Family, new DatagramSocketOptions { ReceiveMetadata = ReceiveMetadata.HopLimit });
        IPAddress group = _f.NewGroup();
        int port = LabNet.NextPort();
        rx.Bind(new IPEndPoint(_f.Any, port));
        rx.JoinGroup(group, LabNet.Rx0);
        await client.SetMulticastInterfaceAsync(LabNet.Tx0);
        await client.SetMulticastTtlAsync(3);
        var to = new IPEndPoint(group, port);
        var probe = CreateTestProbe();
        using (var gate = Hold(client.Socket))
        {
            client.Socket.Tell(new Send(Encoding.ASCII.GetBytes("a"), to), probe);
            client.Socket.Tell(new Send(Encoding.ASCII.GetBytes("b"), to), probe);
            client.Socket.Tell(new SetMulticastTtl(7), probe);
            client.Socket.Tell(new Send(Encoding.ASCII.GetBytes("c"), to), probe);
            await Release(client.Socket, gate);
        }
        probe.ExpectMsg<Sent>(Arrival);
        probe.ExpectMsg<Sent>(Arrival);
        Assert.Equal(3, probe.ExpectMsg<OptionValue<int>>(Arrival).Value);
        probe.ExpectMsg<Sent>(Arrival);
        byte[] buffer = new byte[16];
        foreach (var (text, ttl) in new[] { ("a", 3), ("b", 3), ("c", 7) })
        {
            var got = rx.ReceiveFrom(buffer, (SocketAddress?)null, Arrival);
            Assert.Equal(text, Encoding.ASCII.GetString(buffer, 0, got.BytesReceived));
            Assert.Equal(ttl, got.HopLimit);
        }
    }

    [Fact]
    public async Task SendBatchSizeOne_SendsEachAlone()
    {
        var (client, _) = await StartReceiver(_f, s => s with { SendBatchSize = 1 });
        var (rx, to) = Receiver();
        long callsBefore = await OnSocket(client, SendCalls);
        var probe = CreateTestProbe();
        using (var gate = Hold(client.Socket))
        {
            for (int i = 0; i < 20; i++) client.Socket.Tell(new Send(Encoding.ASCII.GetBytes(i.ToString()), to), probe);
            await Release(client.Socket, gate);
        }
        for (int i = 0; i < 20; i++) probe.ExpectMsg<Sent>(Arrival);
        byte[] buffer = new byte[16];
        for (int i = 0; i < 20; i++) Assert.Equal(i.ToString(), Encoding.ASCII.GetString(buffer, 0, rx.ReceiveFrom(buffer, (SocketAddress?)null, Arrival).BytesReceived));
        Assert.Equal(20, await OnSocket(client, SendCalls) - callsBefore);

        // SendBatchSize limits only coalescing: SendMany still goes out 64 per sendmmsg.
        var many = Enumerable.Range(0, 128).Select(i => ((ReadOnlyMemory<byte>)Encoding.ASCII.GetBytes("m" + i), (EndPoint)to)).ToList();
        long manyBefore = await OnSocket(client, SendCalls);
        BatchSendResult sentMany = await client.SendManyAsync(many);
        Assert.Equal((SendStatus.Sent, 128), (sentMany.Status, sentMany.Sent));
        Assert.InRange(await OnSocket(client, SendCalls) - manyBefore, 1, 4);
    }
}

[Trait("Area", "Actor")]
public sealed class SendCoalescingTestsV4(ITestOutputHelper output) : SendCoalescingTests(LabFamily.V4, output);

[Trait("Area", "Actor")]
public sealed class SendCoalescingTestsV6(ITestOutputHelper output) : SendCoalescingTests(LabFamily.V6, output);
