using System.Net;
using System.Reactive.Linq;
using System.Text;
using Akka.Actor;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Actors;
using Dgram.Actors.Tests.Lab;
using Dgram.Rx;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Rx;

/// <summary>The send sink and the actor bridges.</summary>
public abstract class SendSinkTests : ActorTestBase
{
    private readonly LabFamily _f;

    protected SendSinkTests(LabFamily family, ITestOutputHelper output) : base(output) => _f = family;

    [Fact]
    public async Task SendSink_SendsInOrder_OutcomesInOrder_FailuresAreOutcomesNotExceptions()
    {
        var (client, _) = await StartReceiver(_f);
        var rx = Core(_f.Family, new DatagramSocketOptions());
        int port = LabNet.NextPort();
        rx.Bind(new IPEndPoint(_f.Loopback, port));
        var sink = client.SendSink();
        var outcomes = new List<SendOutcome>();
        var done = new TaskCompletionSource();
        using var results = sink.Results.Subscribe(outcomes.Add, () => done.SetResult());
        var to = new IPEndPoint(_f.Loopback, port);
        var wrongFamily = new IPEndPoint(_f.IsV6 ? IPAddress.Loopback : IPAddress.IPv6Loopback, port);
        for (int i = 0; i < 100; i++)
        {
            sink.OnNext(new OutgoingDatagram(Encoding.ASCII.GetBytes(i.ToString()), to));
            if (i == 50) sink.OnNext(new OutgoingDatagram(new byte[1], wrongFamily));
        }
        sink.OnCompleted();
        await done.Task.WaitAsync(Arrival);

        Assert.Equal(101, outcomes.Count);
        var failed = Assert.Single(outcomes, o => !o.Succeeded);
        Assert.Equal(DatagramSocketError.FamilyMismatch, Assert.IsType<DatagramSocketException>(failed.Error).Error);
        Assert.Equal(Enumerable.Range(0, 100).Select(i => i.ToString()),
            outcomes.Where(o => o.Succeeded).Select(o => Encoding.ASCII.GetString(o.Datagram.Payload.Span)));
        byte[] buffer = new byte[16];
        for (int i = 0; i < 100; i++)
        {
            var r = rx.ReceiveFrom(buffer, (SocketAddress?)null, Arrival);
            Assert.Equal(i.ToString(), Encoding.ASCII.GetString(buffer, 0, r.BytesReceived));
        }
    }
}

[Trait("Area", "Rx")]
public sealed class SendSinkTestsV4(ITestOutputHelper output) : SendSinkTests(LabFamily.V4, output);

[Trait("Area", "Rx")]
public sealed class SendSinkTestsV6(ITestOutputHelper output) : SendSinkTests(LabFamily.V6, output);

[Trait("Area", "Rx")]
public sealed class ActorBridgeTests(ITestOutputHelper output) : LoggedTestKit(output)
{
    [Fact]
    public void PipeTo_SendsEveryElementThenTheCompletionMessage()
    {
        var probe = CreateTestProbe();
        using var pipe = Observable.Range(1, 3).PipeTo(probe, onCompleted: () => "done");
        probe.ExpectMsg(1);
        probe.ExpectMsg(2);
        probe.ExpectMsg(3);
        probe.ExpectMsg("done");
    }

    [Fact]
    public void PipeTo_Error_BecomesStatusFailure()
    {
        var probe = CreateTestProbe();
        using var pipe = Observable.Throw<int>(new InvalidOperationException("bad")).PipeTo(probe);
        Assert.Equal("bad", probe.ExpectMsg<Status.Failure>().Cause.Message);
    }

    [Fact]
    public async Task ActorSource_MessagesBecomeAStream_FailureEndsIt_StopCompletesIt()
    {
        var (actor, stream) = Sys.ActorSource<string>();
        var items = new List<string>();
        var ended = new TaskCompletionSource<Exception?>();
        using var sub = stream.Subscribe(items.Add, e => ended.TrySetResult(e), () => ended.TrySetResult(null));
        actor.Tell("a");
        actor.Tell(42); // not a string: unhandled, not in the stream
        actor.Tell("b");
        await actor.GracefulStop(TimeSpan.FromSeconds(5));
        Assert.Null(await ended.Task.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(["a", "b"], items);

        var (failing, failingStream) = Sys.ActorSource<string>();
        var error = new TaskCompletionSource<Exception?>();
        using var sub2 = failingStream.Subscribe(_ => { }, e => error.TrySetResult(e), () => error.TrySetResult(null));
        failing.Tell(new Status.Failure(new TimeoutException("late")));
        Assert.IsType<TimeoutException>(await error.Task.WaitAsync(TimeSpan.FromSeconds(5)));
    }
}
