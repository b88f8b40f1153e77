using System.Net;
using System.Text;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Tests.Actors;

/// <summary>The socket actor through its typed client, for IPv4 and IPv6: options, memberships, pull and push receive.</summary>
public abstract class SocketActorTests : ActorTestBase
{
    private readonly LabFamily _f;

    protected SocketActorTests(LabFamily family, ITestOutputHelper output) : base(output) => _f = family;

    private int Level => _f.IsV6 ? RawSockOpt.IPPROTO_IPV6 : RawSockOpt.IPPROTO_IP;

    [Fact]
    public async Task Setters_ReturnPreviousValue_AndTheKernelReadsTheNewOne()
    {
        var (client, _) = await StartReceiver(_f);
        Assert.Equal(1, await client.SetMulticastTtlAsync(9));
        Assert.Equal(9, await client.GetMulticastTtlAsync());
        Assert.Equal(9, await OnSocket(client, s => RawSockOpt.GetInt(s.SafeHandle, Level, _f.IsV6 ? RawSockOpt.IPV6_MULTICAST_HOPS : RawSockOpt.IP_MULTICAST_TTL)));
        Assert.True(await client.SetMulticastLoopAsync(false));
        Assert.Equal(0, await OnSocket(client, s => RawSockOpt.GetInt(s.SafeHandle, Level, _f.IsV6 ? RawSockOpt.IPV6_MULTICAST_LOOP : RawSockOpt.IP_MULTICAST_LOOP)));
        Assert.Null(await client.SetMulticastInterfaceAsync(LabNet.Tx0));
        Assert.Equal(LabNet.Tx0, await client.GetMulticastInterfaceAsync());
    }

    [Fact]
    public async Task FailedCommand_ThrowsTheSocketError_AndChangesNothing()
    {
        var (client, _) = await StartReceiver(_f);
        await client.SetMulticastTtlAsync(5);
        var e = await Assert.ThrowsAsync<DatagramSocketException>(() => client.SetMulticastTtlAsync(256));
        Assert.Equal(DatagramSocketError.OutOfRange, e.Error);
        var j = await Assert.ThrowsAsync<DatagramSocketException>(() => client.LeaveGroupAsync(_f.NewGroup(), LabNet.Rx0));
        Assert.Equal("EADDRNOTAVAIL", j.ErrorName);
        Assert.Equal(5, await client.GetMulticastTtlAsync());
    }

    [Fact]
    public async Task JoinGroup_ListsMembershipInKernel_SubscriberGetsDatagrams_LeaveRemovesIt()
    {
        IPAddress group = _f.NewGroup();
        var (client, port) = await StartReceiver(_f);
        var probe = CreateTestProbe();
        await client.SubscribeAsync(probe);
        Assert.Equal(MembershipStatus.Active, await client.JoinGroupAsync(group, LabNet.Rx0));
        Assert.Contains(group, KernelTables.Groups(_f, LabNet.Index(LabNet.Rx0)));

        var tx = CoreSender(_f, _f.Tx0Sources[0], LabNet.Tx0);
        SendText(tx, group, port, "hello");
        var got = probe.ExpectMsg<Received>(Arrival);
        Assert.Equal("hello", Text(got));
        Assert.Equal(_f.Tx0Sources[0], ((IPEndPoint)got.Source!).Address);
        Assert.Equal(group, got.Info.Destination);
        Assert.Equal(LabNet.Index(LabNet.Rx0), got.Info.InterfaceIndex);

        await client.LeaveGroupAsync(group, LabNet.Rx0);
        Assert.DoesNotContain(group, KernelTables.Groups(_f, LabNet.Index(LabNet.Rx0)));
    }

    [Fact]
    public async Task SourceFilters_ThroughTheActor_ShowInMcfilter()
    {
        IPAddress ssm = _f.NewSsmGroup(), asm = _f.NewGroup();
        var (client, _) = await StartReceiver(_f);
        await client.JoinSourceGroupAsync(ssm, _f.Tx0Sources[1], LabNet.Rx0);
        await client.JoinGroupAsync(asm, LabNet.Rx0);
        await client.BlockSourceAsync(asm, _f.Tx0Sources[2], LabNet.Rx0);
        int rx0 = LabNet.Index(LabNet.Rx0);
        Assert.Equal(1, KernelTables.SourceFilter(_f, rx0, ssm, _f.Tx0Sources[1])?.Include);
        Assert.Equal(1, KernelTables.SourceFilter(_f, rx0, asm, _f.Tx0Sources[2])?.Exclude);
        await client.UnblockSourceAsync(asm, _f.Tx0Sources[2], LabNet.Rx0);
        await client.LeaveSourceGroupAsync(ssm, _f.Tx0Sources[1], LabNet.Rx0);
        Assert.Null(KernelTables.SourceFilter(_f, rx0, asm, _f.Tx0Sources[2]));
        Assert.Null(KernelTables.SourceFilter(_f, rx0, ssm, _f.Tx0Sources[1]));
        var state = await client.GetStateAsync();
        Assert.Single(state.Memberships);
    }

    [Fact]
    public async Task PullReceive_TimesOutAsAResult_ThenReturnsTheNextDatagram()
    {
        var (client, port) = await StartReceiver(_f);
        PullResult none = await client.ReceiveFromAsync(TimeSpan.FromMilliseconds(100));
        Assert.True(none.TimedOut);

        Task<PullResult> pull = client.ReceiveFromAsync(Arrival);
        await client.GetStateAsync(); // the pull is registered once a later command is answered (mailbox order)
        var tx = Core(_f.Family);
        SendText(tx, _f.Loopback, port, "pulled");
        PullResult got = await pull;
        Assert.False(got.TimedOut);
        Assert.Equal("pulled", Text(got.Datagram!));
    }

    [Fact]
    public async Task PullReceives_AreServedFirstComeFirstServed()
    {
        var (client, port) = await StartReceiver(_f);
        var first = CreateTestProbe();
        var second = CreateTestProbe();
        client.Socket.Tell(new SocketProtocol.Receive(Arrival), first);
        client.Socket.Tell(new SocketProtocol.Receive(Arrival), second);
        await client.GetStateAsync();
        var tx = Core(_f.Family);
        SendText(tx, _f.Loopback, port, "one");
        SendText(tx, _f.Loopback, port, "two");
        Assert.Equal("one", Text(first.ExpectMsg<Received>(Arrival)));
        Assert.Equal("two", Text(second.ExpectMsg<Received>(Arrival)));
    }

    [Fact]
    public async Task NoConsumer_DatagramsWaitInTheKernel_ASubscriberCountsThemAsNoConsumerDrops_AndNeverGetsThem()
    {
        var (client, port) = await StartReceiver(_f);
        var tx = Core(_f.Family);
        for (int i = 0; i < 5; i++) SendText(tx, _f.Loopback, port, "unread" + i);
        // Without a consumer nothing reads the socket: the datagrams wait in its kernel queue (loopback queues them within sendto).
        SocketState idle = await client.GetStateAsync();
        Assert.Equal(0, idle.Counters.DatagramsReceived);
        Assert.Equal(0, idle.Counters.NoConsumerDrops);
        var probe = CreateTestProbe();
        await client.SubscribeAsync(probe); // answered once what waited was read and counted
        Assert.Equal(5, (await client.GetStateAsync()).Counters.NoConsumerDrops);
        SendText(tx, _f.Loopback, port, "fresh");
        Assert.Equal("fresh", Text(probe.ExpectMsg<Received>(Arrival)));
    }

    [Fact]
    public async Task SuspendReading_StopsDelivery_KernelDropsAreCounted_ResumeDeliversQueued()
    {
        var (client, port) = await StartReceiver(_f, s => s with { ReceiveBufferSize = 4096 });
        var probe = CreateTestProbe();
        await client.SubscribeAsync(probe);
        await client.SuspendReadingAsync();
        var tx = Core(_f.Family);
        byte[] payload = new byte[1000];
        for (int i = 0; i < 100; i++) tx.SendTo(payload, new IPEndPoint(_f.Loopback, port), Arrival);
        SocketState suspended = await client.GetStateAsync();
        Assert.True(suspended.ReadingSuspended);
        Assert.True(suspended.KernelQueueDrops > 0, "the kernel dropped nothing: was the loop reading?");
        Assert.False(probe.HasMessages);

        await client.ResumeReadingAsync();
        // SO_RXQ_OVFL reports drops on the next datagram queued after them: the marker carries them.
        SendText(tx, _f.Loopback, port, "after");
        int queued = 0;
        while (Text(probe.ExpectMsg<Received>(Arrival)) != "after") queued++;
        Assert.InRange(queued, 1, 99);
        SocketState after = await client.GetStateAsync();
        Assert.Equal(after.KernelQueueDrops, after.Counters.KernelDrops);
        Assert.Equal(100 - queued, after.Counters.KernelDrops);
    }
}

[Trait("Area", "Actor")]
public sealed class SocketActorTestsV4(ITestOutputHelper output) : SocketActorTests(LabFamily.V4, output);

[Trait("Area", "Actor")]
public sealed class SocketActorTestsV6(ITestOutputHelper output) : SocketActorTests(LabFamily.V6, output);

/// <summary>SendMany: several datagrams in one mailbox step through sendmmsg.</summary>
[Trait("Area", "Actor")]
public sealed class SendManyTests(ITestOutputHelper output) : ActorTestBase(output)
{
    [Fact]
    public async Task SendMany_150Datagrams_ArriveInOrder_ResultCountsThem()
    {
        var f = LabFamily.V4;
        var (client, _) = await StartReceiver(f);
        var rx = Core(f.Family);
        rx.SetReceiveBufferSize(1 << 20);
        int port = LabNet.NextPort();
        rx.Bind(new IPEndPoint(f.Loopback, port));
        var to = new IPEndPoint(f.Loopback, port);
        var datagrams = Enumerable.Range(0, 150).Select(i => ((ReadOnlyMemory<byte>)Encoding.ASCII.GetBytes(i.ToString()), (EndPoint)to)).ToList();
        BatchSendResult r = await client.SendManyAsync(datagrams);
        Assert.Equal((SendStatus.Sent, 150), (r.Status, r.Sent));
        byte[] buffer = new byte[16];
        for (int i = 0; i < 150; i++)
        {
            var got = rx.ReceiveFrom(buffer, (SocketAddress?)null, Arrival);
            Assert.Equal(i.ToString(), Encoding.ASCII.GetString(buffer, 0, got.BytesReceived));
        }
        Assert.Equal(150, (await client.GetStateAsync()).Counters.DatagramsSent);
    }
}
