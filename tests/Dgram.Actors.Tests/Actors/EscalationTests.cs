using System.Net;
using Akka.Actor;
using Akka.TestKit;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Supervision;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Tests.Actors;

/// <summary>
/// A socket that cannot be recovered gives up after its retries: subscribers hear every restart and
/// then <see cref="SocketFailed"/> with the cause, and the failure escalates to the supervisor's parent
/// as a <see cref="SocketUnrecoverableException"/>. Every incarnation here fails to bind an address
/// that is on no interface (EADDRNOTAVAIL).
/// </summary>
public abstract class EscalationTests : ActorTestBase
{
    private readonly LabFamily _f;

    protected EscalationTests(LabFamily family, ITestOutputHelper output) : base(output) => _f = family;

    /// <summary>In the lab's subnet, on no interface (LabLink uses .101-.199 and fd00:d9a:9::/48).</summary>
    private IPAddress Unassigned => _f.IsV6 ? IPAddress.Parse("fd00:d9a::77") : IPAddress.Parse("198.51.100.77");

    private SocketSettings Unbindable(TimeSpan minBackoff)
    {
        int port = LabNet.NextPort();
        return new SocketSettings
        {
            Name = "esc-" + port,
            Family = _f.Family,
            LocalEndPoint = new IPEndPoint(Unassigned, port),
            MaxRetries = 2,
            MinBackoff = minBackoff,
            // A first start fails at once by default; retried, every incarnation fails the same way.
            BindFailure = BindFailurePolicy.Retry,
        };
    }

    /// <summary>
    /// Creates the socket supervisor as its child, subscribes <c>subscriber</c> to it straight away (its
    /// first user message), tells <c>report</c> the child, and sends every failure it decides on to
    /// <c>failures</c> before stopping the child.
    /// </summary>
    private sealed class Parent(Props child, string name, IActorRef failures, IActorRef report, IActorRef? subscriber) : UntypedActor
    {
        protected override void PreStart()
        {
            IActorRef socket = Context.ActorOf(child, name);
            if (subscriber is not null) socket.Tell(new Subscribe(subscriber));
            report.Tell(socket);
        }

        protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
        {
            failures.Tell(e);
            return Directive.Stop;
        });

        protected override void OnReceive(object message)
        {
            // Subscribed, from the socket: nothing to do.
        }
    }

    private (TestProbe Failures, IActorRef Socket) StartUnderParent(SocketSettings settings, IActorRef? subscriber)
    {
        var failures = CreateTestProbe();
        var report = CreateTestProbe();
        Sys.ActorOf(Props.Create(() => new Parent(SocketSupervisor.Props(settings), settings.Name, failures, report, subscriber)));
        var socket = report.ExpectMsg<IActorRef>(Arrival);
        return (failures, socket);
    }

    private static void AssertBindFailure(Exception? e)
    {
        var d = Assert.IsType<DatagramSocketException>(e);
        Assert.Equal("EADDRNOTAVAIL", d.ErrorName);
    }

    [Fact]
    public void BindFailsEveryIncarnation_AfterMaxRetries_EscalatesSocketUnrecoverableToTheParent()
    {
        SocketSettings settings = Unbindable(TimeSpan.FromMilliseconds(10));
        var (failures, socket) = StartUnderParent(settings, subscriber: null);
        Watch(socket);

        var escalated = failures.ExpectMsg<SocketUnrecoverableException>(Arrival);
        Assert.Equal(settings.Name, escalated.Socket);
        AssertBindFailure(escalated.InnerException);
        // The parent decided Stop: the socket actor is gone, and nothing else was escalated.
        ExpectTerminated(socket, Arrival);
        Assert.False(failures.HasMessages);
    }

    [Fact]
    public void BindFailsEveryIncarnation_SubscriberHearsEachRestart_ThenSocketFailedWithTheCause()
    {
        SocketSettings settings = Unbindable(TimeSpan.FromMilliseconds(200));
        var subscriber = CreateTestProbe();
        var (failures, _) = StartUnderParent(settings, subscriber);

        var attempts = new List<int>();
        SocketFailed? failed = null;
        while (failed is null)
        {
            switch (subscriber.ReceiveOne(Arrival))
            {
                case SocketRestarting r:
                    Assert.Equal(settings.Name, r.Socket);
                    AssertBindFailure(r.Cause);
                    attempts.Add(r.Attempt);
                    break;
                case SocketFailed f:
                    failed = f;
                    break;
                case Subscribed:
                    break;
                case null:
                    Assert.Fail($"no SocketFailed within {Arrival}; restarts seen: [{string.Join(", ", attempts)}]");
                    break;
                case var other:
                    Assert.Fail($"unexpected {other} before SocketFailed");
                    break;
            }
        }
        // Subscribed before the first incarnation failed (its first message), so every restart is heard.
        Assert.Equal([1, 2], attempts);
        Assert.Equal(settings.Name, failed.Socket);
        AssertBindFailure(failed.Cause);
        AssertBindFailure(failures.ExpectMsg<SocketUnrecoverableException>(Arrival).InnerException);
    }

    [Fact]
    public async Task StartAsync_BindFailsEveryIncarnation_ThrowsTheBindError_NotAnAskTimeout()
    {
        SocketSettings settings = Unbindable(TimeSpan.FromMilliseconds(10));

        Exception e = await Record.ExceptionAsync(() => SocketClient.StartAsync(Sys, settings, TimeSpan.FromSeconds(10)));

        AssertBindFailure(e);
    }

    [Fact]
    public async Task StartAsync_BindFailsEveryIncarnation_LeavesNoSocketActorBehind()
    {
        SocketSettings settings = Unbindable(TimeSpan.FromMilliseconds(10));
        await Assert.ThrowsAsync<DatagramSocketException>(() => SocketClient.StartAsync(Sys, settings, TimeSpan.FromSeconds(10)));

        // Nothing keeps retrying in the background: the actor is gone and its name is free.
        await AwaitAssertAsync(async () =>
            await Assert.ThrowsAsync<ActorNotFoundException>(() => Sys.ActorSelection("/user/" + settings.Name).ResolveOne(TimeSpan.FromSeconds(1))),
            Arrival);
    }

    [Fact]
    public void FailedStart_TheSocketItHadBound_IsClosed_ThePortIsFree()
    {
        // The first incarnation binds the port, then its join fails (absent interface, policy Fail): it gives up at once.
        int port = LabNet.NextPort();
        string absent = "dgabs" + LabNet.NextGroupNumber();
        var settings = new SocketSettings
        {
            Name = "escp-" + port,
            Family = _f.Family,
            LocalEndPoint = new IPEndPoint(_f.Any, port),
            Groups = [new GroupSettings(_f.NewGroup(), absent)],
            AbsentInterface = AbsentInterfacePolicy.Fail,
        };
        var (failures, socket) = StartUnderParent(settings, subscriber: null);
        Watch(socket);
        var escalated = failures.ExpectMsg<SocketUnrecoverableException>(Arrival);
        Assert.Equal(DatagramSocketError.UnknownInterface, Assert.IsType<DatagramSocketException>(escalated.InnerException).Error);
        ExpectTerminated(socket, Arrival);

        // Every socket an incarnation created is closed when it fails, even one that failed while starting.
        var again = Core(_f.Family);
        again.Bind(new IPEndPoint(_f.Any, port));
    }
}

[Trait("Area", "Supervision")]
public sealed class EscalationTestsV4(ITestOutputHelper output) : EscalationTests(LabFamily.V4, output);

[Trait("Area", "Supervision")]
public sealed class EscalationTestsV6(ITestOutputHelper output) : EscalationTests(LabFamily.V6, output);
