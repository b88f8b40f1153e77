using System.Net;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Tests.Actors;

/// <summary>
/// A per-datagram error is not a fault: a connected socket that sends to a port nobody listens on gets
/// the kernel's ICMP port unreachable back, and its next receive fails with ECONNREFUSED. The error is
/// counted and reported to subscribers; nothing restarts and the socket goes on working.
/// </summary>
public abstract class TransientErrorTests : ActorTestBase
{
    private readonly LabFamily _f;

    protected TransientErrorTests(LabFamily family, ITestOutputHelper output) : base(output) => _f = family;

    [Fact]
    public async Task ConnectedSocket_IcmpPortUnreachable_ReportsEconnrefused_CountsIt_AndRestartsNothing()
    {
        int port = LabNet.NextPort(), deadPort = LabNet.NextPort();
        var remote = new IPEndPoint(_f.Loopback, deadPort);
        string name = "te-" + port;
        SocketClient client = await SocketClient.StartAsync(Sys, new SocketSettings
        {
            Name = name,
            Family = _f.Family,
            LocalEndPoint = new IPEndPoint(_f.Loopback, port),
            RemoteEndPoint = remote,
            MinBackoff = TimeSpan.FromMilliseconds(10),
        });
        var probe = CreateTestProbe();
        await client.SubscribeAsync(probe);

        SendResult first = await client.SendToAsync(new byte[] { 1, 2, 3 }, remote);
        Assert.Equal(SendStatus.Sent, first.Status);

        // The first thing the subscriber hears: the error, not a restart.
        var error = probe.ExpectMsg<ReceiveErrorReported>(Arrival);
        Assert.Equal((name, "ECONNREFUSED"), (error.Socket, error.ErrorName));
        SocketCounters counters = (await client.GetStateAsync()).Counters;
        Assert.Equal(1, counters.ReceiveErrors);
        Assert.Equal(0, counters.Restarts);
        Assert.Equal(0, counters.SendFailures);

        // Still the same socket, still working: options answer, the peer's datagrams arrive, sends go out.
        await client.SetMulticastTtlAsync(3);
        Assert.Equal(3, await client.GetMulticastTtlAsync());
        var peer = Core(_f.Family);
        peer.Bind(remote);
        SendText(peer, _f.Loopback, port, "after-error");
        Assert.Equal("after-error", Text(probe.ExpectMsg<Received>(Arrival)));
        SendResult second = await client.SendToAsync(new byte[] { 4, 5 }, remote);
        Assert.Equal(SendStatus.Sent, second.Status);
        byte[] buffer = new byte[16];
        ReceiveResult got = peer.ReceiveFrom(buffer, out EndPoint? from, Arrival);
        Assert.Equal((ReceiveStatus.Received, 2, port), (got.Status, got.BytesReceived, ((IPEndPoint)from!).Port));
        SocketState state = await client.GetStateAsync();
        Assert.Equal(port, ((IPEndPoint)state.LocalEndPoint!).Port);
        Assert.Equal((1L, 0L, 2L), (state.Counters.ReceiveErrors, state.Counters.Restarts, state.Counters.DatagramsSent));
    }
}

[Trait("Area", "Supervision")]
public sealed class TransientErrorTestsV4(ITestOutputHelper output) : TransientErrorTests(LabFamily.V4, output);

[Trait("Area", "Supervision")]
public sealed class TransientErrorTestsV6(ITestOutputHelper output) : TransientErrorTests(LabFamily.V6, output);
