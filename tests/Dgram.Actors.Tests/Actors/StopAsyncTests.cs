using System.Collections.Concurrent;
using System.Net;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Dgram.Rx;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Actors;

/// <summary>
/// <see cref="SocketClient.StopAsync"/> closes one socket for good: when it returns the groups and source filters
/// are out of the kernel tables and the port is free; subscribers hear <see cref="SocketStopped"/> and Rx streams
/// complete; commands sent before it are applied; every later call fails Closed; a second stop is a no-op.
/// </summary>
public abstract class StopAsyncTests : ActorTestBase
{
    private readonly LabFamily _f;

    protected StopAsyncTests(LabFamily family, ITestOutputHelper output) : base(output) => _f = family;

    [Fact]
    public async Task StopAsync_LeavesEveryGroup_AndFreesThePort_BeforeItReturns()
    {
        IPAddress asm = _f.NewGroup(), ssm = _f.NewSsmGroup();
        var (client, port) = await StartReceiver(_f);
        await client.JoinGroupAsync(asm, LabNet.Rx0);
        await client.BlockSourceAsync(asm, _f.Tx0Sources[2], LabNet.Rx0);
        await client.JoinSourceGroupAsync(ssm, _f.Tx0Sources[1], LabNet.Rx0);
        int rx0 = LabNet.Index(LabNet.Rx0);
        Assert.Contains(asm, KernelTables.Groups(_f, rx0));
        Assert.Equal(1, KernelTables.SourceFilter(_f, rx0, ssm, _f.Tx0Sources[1])?.Include);

        await client.StopAsync();

        // No waiting: the stop returns once the socket is closed.
        Assert.DoesNotContain(asm, KernelTables.Groups(_f, rx0));
        Assert.DoesNotContain(ssm, KernelTables.Groups(_f, rx0));
        Assert.Null(KernelTables.SourceFilter(_f, rx0, asm, _f.Tx0Sources[2]));
        Assert.Null(KernelTables.SourceFilter(_f, rx0, ssm, _f.Tx0Sources[1]));
        Core(_f.Family).Bind(new IPEndPoint(_f.Any, port)); // exclusive bind: nothing holds the port
    }

    [Fact]
    public async Task StopAsync_CompletesRxStreams_AndTellsSubscribers_WithoutARestart()
    {
        var (client, _) = await StartReceiver(_f);
        var probe = CreateTestProbe();
        await client.SubscribeAsync(probe);
        using DatagramStreams streams = await client.OpenStreamsAsync();
        var ended = new ConcurrentDictionary<string, Exception?>();
        var buffered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inline = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var status = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var a = streams.Datagrams().Subscribe(_ => { }, e => ended["buffered"] = e, buffered.SetResult);
        using var b = streams.Leases(new SubscriberOptions { Inline = true }).Subscribe(l => l.Dispose(), e => ended["inline"] = e, inline.SetResult);
        using var c = streams.Status.Subscribe(_ => { }, e => ended["status"] = e, status.SetResult);

        await client.StopAsync();

        await Task.WhenAll(buffered.Task, inline.Task, status.Task).WaitAsync(Arrival);
        Assert.Empty(ended); // completed, no OnError
        object first = probe.FishForMessage(m => m is SocketStatus, Arrival);
        Assert.Equal(new SocketStopped(client.Socket.Path.Name), first); // not SocketRestarting: nothing restarts
    }

    [Fact]
    public async Task StopAsync_AppliesTheCommandsSentBeforeIt()
    {
        var rx = Core(_f.Family);
        int rxPort = LabNet.NextPort();
        rx.Bind(new IPEndPoint(_f.Loopback, rxPort));
        var (client, _) = await StartReceiver(_f);
        var to = new IPEndPoint(_f.Loopback, rxPort);
        Task<SendResult>[] sends = Enumerable.Range(0, 20).Select(i => client.SendToAsync(new[] { (byte)i }, to)).ToArray();

        await client.StopAsync();

        SendResult[] results = await Task.WhenAll(sends);
        Assert.All(results, r => Assert.Equal(SendStatus.Sent, r.Status));
        byte[] buffer = new byte[16];
        for (int i = 0; i < 20; i++)
        {
            ReceiveResult r = rx.ReceiveFrom(buffer, out _, Arrival);
            Assert.Equal((ReceiveStatus.Received, (byte)i), (r.Status, buffer[0]));
        }
    }

    [Fact]
    public async Task StopAsync_LaterCallsFailClosed_AndASecondStopIsANoOp()
    {
        var (client, port) = await StartReceiver(_f);
        await client.StopAsync();

        var e = await Assert.ThrowsAsync<DatagramSocketException>(() => client.SetMulticastTtlAsync(5));
        Assert.Equal(("SetMulticastTtl", DatagramSocketError.Closed, "EBADF"), (e.Operation, e.Error, e.ErrorName));
        var send = await Assert.ThrowsAsync<DatagramSocketException>(() => client.SendToAsync(new byte[1], new IPEndPoint(_f.Loopback, port)));
        Assert.Equal((DatagramSocketError.Closed, "EBADF"), (send.Error, send.ErrorName));
        var pull = await Assert.ThrowsAsync<DatagramSocketException>(() => client.ReceiveFromAsync(Timeout.InfiniteTimeSpan));
        Assert.Equal((DatagramSocketError.Closed, "EBADF"), (pull.Error, pull.ErrorName));

        await client.StopAsync().WaitAsync(Arrival);
        await new SocketClient(client.Socket).StopAsync().WaitAsync(Arrival);
    }

    [Fact]
    public async Task StopAsync_AnswersAPullStillWaiting_Closed()
    {
        var (client, _) = await StartReceiver(_f);
        Task<PullResult> waiting = client.ReceiveFromAsync(Timeout.InfiniteTimeSpan);
        await client.GetStateAsync(); // the pull is queued before the stop

        await client.StopAsync();

        var e = await Assert.ThrowsAsync<DatagramSocketException>(() => waiting.WaitAsync(Arrival));
        Assert.Equal((DatagramSocketError.Closed, "EBADF"), (e.Error, e.ErrorName));
    }
}

[Trait("Area", "Actor")]
public sealed class StopAsyncTestsV4(ITestOutputHelper output) : StopAsyncTests(LabFamily.V4, output);

[Trait("Area", "Actor")]
public sealed class StopAsyncTestsV6(ITestOutputHelper output) : StopAsyncTests(LabFamily.V6, output);
