using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Tests.Actors;

/// <summary>
/// A start that cannot succeed fails at once, naming the errno and the setting (a retry would take the
/// backoff, set here to 60 s, so an answer within the start timeout proves there was none); a bind error
/// that can clear by itself is retried only when asked; what waits at a stop is answered once, with Closed/EBADF.
/// </summary>
[Trait("Area", "Supervision")]
public sealed class StartStopSemanticsTests(ITestOutputHelper output) : ActorTestBase(output)
{
    private static readonly LabFamily F = LabFamily.V4;
    private static readonly TimeSpan NoRetry = TimeSpan.FromSeconds(60);

    private static SocketSettings Settings(EndPoint bind) => new()
    {
        Name = "ss-" + LabNet.NextPort(), Family = F.Family, LocalEndPoint = bind, MinBackoff = NoRetry, MaxBackoff = NoRetry,
    };

    [Fact]
    public async Task StartAsync_PortInUse_FailsAtOnce_WithEADDRINUSE_AndTheSetting()
    {
        int port = LabNet.NextPort();
        Core(F.Family).Bind(new IPEndPoint(F.Any, port));

        var e = await Assert.ThrowsAsync<DatagramSocketException>(() => SocketClient.StartAsync(Sys, Settings(new IPEndPoint(F.Any, port)), Arrival));

        Assert.Equal("EADDRINUSE", e.ErrorName);
        Assert.Equal("LocalEndPoint", e.Setting);
        Assert.Contains("(setting LocalEndPoint)", e.Message);
    }

    [Fact]
    public async Task StartAsync_AddressNotOnTheHost_FailsAtOnce_WithEADDRNOTAVAIL()
    {
        var e = await Assert.ThrowsAsync<DatagramSocketException>(() =>
            SocketClient.StartAsync(Sys, Settings(new IPEndPoint(IPAddress.Parse("198.51.100.250"), LabNet.NextPort())), Arrival));
        Assert.Equal("EADDRNOTAVAIL", e.ErrorName);
        Assert.Equal("LocalEndPoint", e.Setting);
    }

    [Fact]
    public async Task StartAsync_UnsupportedFamily_FailsAtOnce_WithEAFNOSUPPORT_NamingTheFamily()
    {
        var settings = Settings(new IPEndPoint(F.Any, LabNet.NextPort())) with { Family = AddressFamily.AppleTalk, LocalEndPoint = null };
        var e = await Assert.ThrowsAsync<DatagramSocketException>(() => SocketClient.StartAsync(Sys, settings, Arrival));
        Assert.Equal("EAFNOSUPPORT", e.ErrorName);
        Assert.StartsWith("Family=", e.Arguments);
    }

    [Fact]
    public async Task StartAsync_BindFailureRetry_RetriesUntilTheAddressAppears()
    {
        string address = "198.51.100.251";
        int port = LabNet.NextPort();
        var settings = Settings(new IPEndPoint(IPAddress.Parse(address), port)) with
        {
            BindFailure = BindFailurePolicy.Retry, MinBackoff = TimeSpan.FromMilliseconds(50), MaxBackoff = TimeSpan.FromMilliseconds(200), MaxRetries = 1000,
        };
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        IActorRef socket = Sys.ActorOf(Dgram.Actors.Supervision.SocketSupervisor.Props(settings, started), settings.Name);
        var events = CreateTestProbe();
        socket.Tell(new Subscribe(events), events);
        // A retry of the bind error, heard before the address exists.
        var restarting = events.FishForMessage<SocketRestarting>(_ => true, Arrival);
        Assert.Equal("EADDRNOTAVAIL", Assert.IsType<DatagramSocketException>(restarting.Cause).ErrorName);
        Assert.False(started.Task.IsCompleted);
        LabLink.Ip("addr", "add", address + "/32", "dev", "lo");
        try
        {
            await started.Task.WaitAsync(Arrival * 2);
            var client = new SocketClient(socket);
            Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), (await client.GetStateAsync()).LocalEndPoint);
            await socket.GracefulStop(Arrival);
        }
        finally
        {
            LabLink.Ip("addr", "del", address + "/32", "dev", "lo");
        }
    }

    [Fact]
    public async Task Stop_PendingPull_IsAnsweredClosedEBADF_NotTimedOut()
    {
        var (client, _) = await StartReceiver(F);
        Task<PullResult> pull = client.ReceiveFromAsync(Timeout.InfiniteTimeSpan);
        await client.GetStateAsync(); // the pull is queued before the stop

        await client.Socket.GracefulStop(Arrival);

        var e = await Assert.ThrowsAsync<DatagramSocketException>(() => pull.WaitAsync(Arrival));
        Assert.Equal(DatagramSocketError.Closed, e.Error);
        Assert.Equal("EBADF", e.ErrorName);
    }

    [Fact]
    public async Task Stop_WithSendsInFlight_EverySendIsAnsweredExactlyOnce_RefusedOnesWithEBADF()
    {
        var (client, _) = await StartReceiver(F);
        var rx = Core(F.Family, new DatagramSocketOptions());
        rx.SetReceiveBufferSize(4 << 20);
        int port = LabNet.NextPort();
        rx.Bind(new IPEndPoint(F.Loopback, port));
        var replies = CreateTestProbe();
        var watcher = CreateTestProbe();
        watcher.Watch(client.Socket);
        var to = new IPEndPoint(F.Loopback, port);
        const int n = 5000;
        for (int i = 0; i < n; i++)
        {
            client.Socket.Tell(new Send(BitConverter.GetBytes(i), to), replies);
            if (i == n / 2) Sys.Stop(client.Socket);
        }
        watcher.ExpectTerminated(client.Socket, Arrival);

        // Local tells are enqueued when made: once the socket actor has terminated, every answer it or its
        // incarnation will ever give is in the probe's queue (the rest of the sends went to dead letters).
        var answers = new List<object>();
        while (replies.HasMessages) answers.Add(replies.ReceiveOne(TimeSpan.Zero)!);
        Assert.All(answers, a => Assert.True(a is Sent or CommandFailed, a.ToString()));
        var failed = answers.OfType<CommandFailed>().ToList();
        Assert.All(failed, f => Assert.Equal("EBADF", f.Cause.ErrorName));
        var failedNumbers = failed.Select(f => BitConverter.ToInt32(((Send)f.Command).Payload.Span)).ToHashSet();
        Assert.Equal(failed.Count, failedNumbers.Count);

        // What was sent is what was answered Sent, and nothing answered failed was sent: each send had one answer.
        var received = new HashSet<int>();
        byte[] buffer = new byte[8];
        while (HasQueued(rx))
        {
            rx.ReceiveFrom(buffer, (SocketAddress?)null, TimeSpan.Zero);
            Assert.True(received.Add(BitConverter.ToInt32(buffer)), "a datagram was sent twice");
        }
        Assert.Equal(answers.Count(a => a is Sent), received.Count);
        Assert.Empty(received.Intersect(failedNumbers));
    }

    private static bool HasQueued(DatagramSocket s) =>
        s.ReceiveFrom(new byte[1], (SocketAddress?)null, TimeSpan.Zero, ReceiveFlags.Peek).Status == ReceiveStatus.Received;
}
