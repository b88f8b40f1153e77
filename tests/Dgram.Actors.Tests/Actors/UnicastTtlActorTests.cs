using System.Net;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Actors;

/// <summary>
/// The unicast TTL through the socket actor: the client's getter and setter, <see cref="SocketSettings.UnicastTtl"/>,
/// both restored after a restart, and a per-datagram TTL (<c>SendToAsync(..., ttl, ...)</c>) that reaches unicast
/// destinations. Every TTL is read at a plain receiver (IP_RECVTTL / IPV6_RECVHOPLIMIT) on real datagrams.
/// </summary>
public abstract class UnicastTtlActorTests : ActorTestBase
{
    private const int IP_TTL = 2, IPV6_UNICAST_HOPS = 16;
    private const int SystemDefault = 64;
    private readonly LabFamily _f;

    protected UnicastTtlActorTests(LabFamily family, ITestOutputHelper output) : base(output) => _f = family;

    /// <summary>A socket actor sending from lab0b, and a plain receiver on lab0a's unicast address that reads each datagram's TTL.</summary>
    private async Task<(SocketClient Client, DatagramSocket Rx, IPEndPoint To)> Start(Func<SocketSettings, SocketSettings>? configure = null)
    {
        var rx = Core(_f.Family, new DatagramSocketOptions { ReceiveMetadata = ReceiveMetadata.HopLimit });
        int port = LabNet.NextPort();
        rx.Bind(new IPEndPoint(_f.Rx0Address, port));
        var settings = new SocketSettings
        {
            Name = "uttl-" + LabNet.NextPort(), Family = _f.Family, LocalEndPoint = new IPEndPoint(_f.Tx0Sources[0], 0),
            MinBackoff = TimeSpan.FromMilliseconds(50),
        };
        var client = await SocketClient.StartAsync(Sys, configure is null ? settings : configure(settings));
        return (client, rx, new IPEndPoint(_f.Rx0Address, port));
    }

    private static int Arrived(DatagramSocket rx, string expected)
    {
        byte[] buffer = new byte[256];
        ReceiveResult r = rx.ReceiveFrom(buffer, out _, Arrival);
        Assert.True(r.Status == ReceiveStatus.Received, $"expected '{expected}', got {r}");
        Assert.Equal(expected, System.Text.Encoding.UTF8.GetString(buffer, 0, r.BytesReceived));
        return r.HopLimit;
    }

    private static async Task Send(SocketClient client, IPEndPoint to, string text)
    {
        SendResult r = await client.SendToAsync(System.Text.Encoding.UTF8.GetBytes(text), to);
        Assert.Equal(SendStatus.Sent, r.Status);
    }

    private Task<int> KernelTtl(SocketClient client) =>
        OnSocket(client, s => RawSockOpt.GetInt(s.SafeHandle, _f.IsV6 ? RawSockOpt.IPPROTO_IPV6 : RawSockOpt.IPPROTO_IP, _f.IsV6 ? IPV6_UNICAST_HOPS : IP_TTL));

    /// <summary>The kernel holds <paramref name="ttl"/> for the socket, and a plain send arrives with it.</summary>
    private async Task AssertSocketSendsWith(int ttl, SocketClient client, DatagramSocket rx, IPEndPoint to, string text)
    {
        Assert.Equal(ttl, await KernelTtl(client));
        await Send(client, to, text);
        Assert.Equal(ttl, Arrived(rx, text));
    }

    /// <summary>Kills the running incarnation and waits until the next one is bound and has replayed the ledger.</summary>
    private async Task Restart(SocketClient client)
    {
        var probe = CreateTestProbe();
        await client.SubscribeAsync(probe);
        IActorRef incarnation = await Sys.ActorSelection(client.Socket.Path / "*").ResolveOne(Arrival);
        incarnation.Tell(Kill.Instance);
        probe.FishForMessage(m => m is SocketRestored, Arrival);
        await client.UnsubscribeAsync(probe);
    }

    [Fact]
    public async Task PerDatagramTtl_ReachesAUnicastDestination_AndLeavesTheSocketAlone()
    {
        var (client, rx, to) = await Start();
        SendResult r = await client.SendToAsync("five"u8.ToArray(), to, ttl: 5, interfaceName: null);
        Assert.Equal(SendStatus.Sent, r.Status);
        Assert.Equal(5, Arrived(rx, "five"));
        // The socket's own unicast TTL did not move: the next plain send has the system default.
        Assert.Equal(SystemDefault, await KernelTtl(client));
        await Send(client, to, "plain");
        Assert.Equal(SystemDefault, Arrived(rx, "plain"));
    }

    [Fact]
    public async Task PerDatagramTtl_OutOfRangeForUnicast_FailsAndSendsNothing()
    {
        var (client, rx, to) = await Start();
        var e = await Assert.ThrowsAsync<DatagramSocketException>(() => client.SendToAsync("zero"u8.ToArray(), to, ttl: 0, interfaceName: null));
        Assert.Equal((DatagramSocketError.OutOfRange, "SendTo", "0"), (e.Error, e.Operation, e.Arguments));
        await Send(client, to, "marker");
        Assert.Equal(SystemDefault, Arrived(rx, "marker")); // the first datagram to arrive is the marker
    }

    [Fact]
    public async Task SetUnicastTtlAsync_ReturnsThePrevious_AppliesToSends_AndSurvivesARestart()
    {
        var (client, rx, to) = await Start();
        Assert.Equal(SystemDefault, await client.GetUnicastTtlAsync());
        Assert.Equal(SystemDefault, await client.SetUnicastTtlAsync(5));
        Assert.Equal(5, await client.GetUnicastTtlAsync());
        Assert.Equal(5, (await client.GetStateAsync()).UnicastTtl);
        await AssertSocketSendsWith(5, client, rx, to, "before");

        await Restart(client);

        await AssertSocketSendsWith(5, client, rx, to, "after");
        var bad = await Assert.ThrowsAsync<DatagramSocketException>(() => client.SetUnicastTtlAsync(0));
        Assert.Equal((DatagramSocketError.OutOfRange, "SetUnicastTtl"), (bad.Error, bad.Operation));
        Assert.Equal(5, await client.GetUnicastTtlAsync());
    }

    [Fact]
    public async Task SettingsUnicastTtl_IsAppliedAtStart_AndAfterARestart()
    {
        var (client, rx, to) = await Start(s => s with { UnicastTtl = 7 });
        await AssertSocketSendsWith(7, client, rx, to, "start");

        await Restart(client);

        await AssertSocketSendsWith(7, client, rx, to, "restarted");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(256)]
    [InlineData(-2)]
    public void SettingsUnicastTtl_OutOfRange_IsRefusedByValidate(int ttl)
    {
        var settings = new SocketSettings { Name = "uttl-bad", Family = _f.Family, UnicastTtl = ttl };
        var e = Assert.Throws<DatagramSocketException>(settings.Validate);
        Assert.Equal((DatagramSocketError.OutOfRange, $"UnicastTtl={ttl}"), (e.Error, e.Arguments));
    }
}

[Trait("Area", "Actor")]
public sealed class UnicastTtlActorTestsV4(ITestOutputHelper output) : UnicastTtlActorTests(LabFamily.V4, output);

[Trait("Area", "Actor")]
public sealed class UnicastTtlActorTestsV6(ITestOutputHelper output) : UnicastTtlActorTests(LabFamily.V6, output);
