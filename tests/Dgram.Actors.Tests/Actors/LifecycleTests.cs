using System.Diagnostics;
using System.Net;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Supervision;
using Dgram.Actors.Tests.Lab;
using Dgram.Actors.Tests.Sockets;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Actors;

/// <summary>
/// Stopping a socket actor closes its socket: its memberships and source filters leave the kernel
/// tables, its port is free again, and subscribers hear <see cref="SocketStopped"/>.
/// </summary>
public abstract class LifecycleTests : ActorTestBase
{
    private readonly LabFamily _f;

    protected LifecycleTests(LabFamily family, ITestOutputHelper output) : base(output) => _f = family;

    [Fact]
    public async Task GracefulStop_ClosesTheSocket_MembershipsLeaveTheKernel_SubscriberGetsSocketStopped()
    {
        IPAddress asm = _f.NewGroup(), ssm = _f.NewSsmGroup();
        var (client, port) = await StartReceiver(_f);
        var probe = CreateTestProbe();
        await client.SubscribeAsync(probe);
        await client.JoinGroupAsync(asm, LabNet.Rx0);
        await client.BlockSourceAsync(asm, _f.Tx0Sources[2], LabNet.Rx0);
        await client.JoinSourceGroupAsync(ssm, _f.Tx0Sources[1], LabNet.Rx0);
        int rx0 = LabNet.Index(LabNet.Rx0);
        Assert.Contains(asm, KernelTables.Groups(_f, rx0));
        Assert.Contains(ssm, KernelTables.Groups(_f, rx0));
        Assert.Equal(1, KernelTables.SourceFilter(_f, rx0, asm, _f.Tx0Sources[2])?.Exclude);
        Assert.Equal(1, KernelTables.SourceFilter(_f, rx0, ssm, _f.Tx0Sources[1])?.Include);

        Assert.True(await client.Socket.GracefulStop(Arrival));

        var stopped = probe.FishForMessage<SocketStopped>(_ => true, Arrival);
        Assert.Equal("rx-" + port, stopped.Socket);
        await AwaitAssertAsync(() =>
        {
            Assert.DoesNotContain(asm, KernelTables.Groups(_f, rx0));
            Assert.DoesNotContain(ssm, KernelTables.Groups(_f, rx0));
            Assert.Null(KernelTables.SourceFilter(_f, rx0, asm, _f.Tx0Sources[2]));
            Assert.Null(KernelTables.SourceFilter(_f, rx0, ssm, _f.Tx0Sources[1]));
            return Task.CompletedTask;
        }, Arrival);
        // The socket is closed, not just quiet: its port can be bound again without address reuse.
        var again = Core(_f.Family);
        again.Bind(new IPEndPoint(_f.Any, port));
    }

    [Fact]
    public async Task CommandsToAStoppedSocketActor_FailClosedAtOnce_NotAfterTheAskTimeout()
    {
        var (client, _) = await StartReceiver(_f); // ask timeout: 30 s
        Assert.True(await client.Socket.GracefulStop(Arrival));
        // EBADF, not the ask timeout's ETIMEDOUT: the client saw the stop, through the client that
        // watched it start and through a new one.
        foreach (SocketClient c in new[] { client, new SocketClient(client.Socket) })
        {
            var e = await Assert.ThrowsAsync<DatagramSocketException>(() => c.SetMulticastTtlAsync(5));
            Assert.Equal(("SetMulticastTtl", DatagramSocketError.Closed, "EBADF"), (e.Operation, e.Error, e.ErrorName));
            var pull = await Assert.ThrowsAsync<DatagramSocketException>(() => c.ReceiveFromAsync(TimeSpan.FromSeconds(60)));
            Assert.Equal((DatagramSocketError.Closed, "EBADF"), (pull.Error, pull.ErrorName));
            var forever = await Assert.ThrowsAsync<DatagramSocketException>(() => c.ReceiveFromAsync(Timeout.InfiniteTimeSpan));
            Assert.Equal((DatagramSocketError.Closed, "EBADF"), (forever.Error, forever.ErrorName));
        }
    }
}

[Trait("Area", "Actor")]
public sealed class LifecycleTestsV4(ITestOutputHelper output) : LifecycleTests(LabFamily.V4, output);

[Trait("Area", "Actor")]
public sealed class LifecycleTestsV6(ITestOutputHelper output) : LifecycleTests(LabFamily.V6, output);

/// <summary>
/// 1,000 socket actors created and stopped leave nothing behind: the process's descriptor count is
/// back where it started and no dedicated read thread (<c>dgram-read-*</c>: every other socket asks for one)
/// is alive. Both counts are process-wide, so this runs alone.
/// </summary>
[Collection(SerialCollection.Name)]
[Trait("Area", "Actor")]
public sealed class LifecycleLeakTests : ActorTestBase
{
    private const string PumpThreadPrefix = "dgram-read-"; // comm keeps 15 bytes: the prefix (11) survives
    private readonly ITestOutputHelper _output;

    public LifecycleLeakTests(ITestOutputHelper output) : base(output) => _output = output;

    /// <summary>
    /// Open sockets and anonymous inodes (eventfd, epoll): the kinds of descriptor the library opens.
    /// Files are left out: the runtime maps assemblies it loads lazily (seen: Microsoft.Win32.Registry.dll
    /// opened twice mid-run), which is not a leak of ours.
    /// </summary>
    private static int OpenDescriptors() => DescriptorTargets().Count(t => t.Contains("-> socket:", StringComparison.Ordinal) || t.Contains("-> anon_inode:", StringComparison.Ordinal));

    /// <summary>Each open descriptor with what it points at ("17 -> socket:[12345]").</summary>
    private static HashSet<string> DescriptorTargets()
    {
        var targets = new HashSet<string>();
        foreach (string fd in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                targets.Add($"{Path.GetFileName(fd)} -> {new FileInfo(fd).LinkTarget}");
            }
            catch (IOException)
            {
                // Closed while we looked (the enumeration's own descriptor, say).
            }
        }
        return targets;
    }

    /// <summary>
    /// The count to compare against: taken after a full collection, so descriptors that earlier tests
    /// left to finalizers are closed now and cannot close during the measurement and hide a leak.
    /// </summary>
    private static int BaselineDescriptors()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return OpenDescriptors();
    }

    private static List<string> PumpThreads()
    {
        var names = new List<string>();
        foreach (string task in Directory.GetDirectories("/proc/self/task"))
        {
            try
            {
                string comm = File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
                if (comm.StartsWith(PumpThreadPrefix, StringComparison.Ordinal)) names.Add($"{Path.GetFileName(task)}:{comm}");
            }
            catch (IOException)
            {
                // The thread exited while we looked: it is not alive.
            }
        }
        return names;
    }

    private async Task Cycle(SocketSettings settings)
    {
        SocketClient client = await SocketClient.StartAsync(Sys, settings);
        Assert.True(await client.Socket.GracefulStop(Arrival), $"{settings.Name} did not stop in time");
    }

    [Fact]
    public async Task StartAndStop_1000Times_LeavesDescriptorCountUnchanged_AndNoPumpThreadAlive()
    {
        const int cycles = 1000;
        int port = LabNet.NextPort();
        int n = 0;
        SocketSettings Settings(string name) => new()
        {
            Name = name,
            Family = System.Net.Sockets.AddressFamily.InterNetwork,
            LocalEndPoint = new IPEndPoint(IPAddress.Loopback, port),
            DedicatedReadThread = n++ % 2 == 0, // half on threads of their own, half on the engine's shared ones
        };

        // Warm-up: the runtime's and Akka's own one-time descriptors (epoll, eventfds, ...) open here.
        for (int i = 0; i < 5; i++) await Cycle(Settings($"lw{port}-{i}"));
        await AwaitAssertAsync(() =>
        {
            Assert.Empty(PumpThreads());
            return Task.CompletedTask;
        }, TimeSpan.FromSeconds(10));
        int before = BaselineDescriptors();
        HashSet<string> beforeTargets = DescriptorTargets();

        var clock = Stopwatch.StartNew();
        for (int i = 0; i < cycles; i++) await Cycle(Settings($"lc{port}-{i}"));
        clock.Stop();
        _output.WriteLine($"{cycles} create/stop cycles: {clock.ElapsedMilliseconds} ms ({clock.Elapsed.TotalMilliseconds / cycles:F2} ms per cycle)");

        await AwaitAssertAsync(() =>
        {
            Assert.Empty(PumpThreads());
            int now = OpenDescriptors();
            Assert.True(before == now, $"{before} descriptors before, {now} after; new: "
                + string.Join(", ", DescriptorTargets().Except(beforeTargets)) + "; gone: " + string.Join(", ", beforeTargets.Except(DescriptorTargets())));
            return Task.CompletedTask;
        }, TimeSpan.FromSeconds(10));
        _output.WriteLine($"descriptors: {before} before, {OpenDescriptors()} after; pump threads after: {PumpThreads().Count}");
    }

    /// <summary>Creates the socket supervisor as its child, stops it when it escalates, and stops itself once it is gone.</summary>
    private sealed class StoppingParent(Props child) : UntypedActor
    {
        protected override void PreStart() => Context.Watch(Context.ActorOf(child, "socket"));

        protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

        protected override void OnReceive(object message)
        {
            if (message is Terminated) Context.Stop(Self);
        }
    }

    [Fact]
    public void FailedStarts_100Times_LeaveDescriptorCountUnchanged()
    {
        const int failures = 100;
        int port = LabNet.NextPort();
        // Every incarnation creates its socket and fails to bind an address that is on no interface; no retry.
        var settings = new SocketSettings
        {
            Name = "lf" + port,
            Family = System.Net.Sockets.AddressFamily.InterNetwork,
            LocalEndPoint = new IPEndPoint(IPAddress.Parse("198.51.100.77"), port),
            MaxRetries = 0,
        };
        void FailOnce()
        {
            IActorRef parent = Sys.ActorOf(Props.Create(() => new StoppingParent(SocketSupervisor.Props(settings))));
            Watch(parent);
            ExpectTerminated(parent, Arrival);
        }

        void AssertNoNewDescriptors(int before, HashSet<string> targetsBefore) => AwaitAssert(() =>
        {
            int now = OpenDescriptors();
            Assert.True(now == before, $"{before} descriptors before {failures} failed starts, {now} after; new: "
                + string.Join(", ", DescriptorTargets().Except(targetsBefore)));
        }, TimeSpan.FromSeconds(10));

        // Warm-up, including the assertion itself (its first use loads assemblies, which map files).
        for (int i = 0; i < 5; i++) FailOnce();
        AwaitAssert(() => Assert.NotEmpty(DescriptorTargets()), Arrival);
        int before = BaselineDescriptors();
        HashSet<string> targetsBefore = DescriptorTargets();

        // A leaked socket would be closed by its finalizer sooner or later, hiding the leak: keep the GC
        // (and so the finalizers) from running while the sockets are counted, when the runtime allows it.
        bool noGc = false;
        try
        {
            noGc = GC.TryStartNoGCRegion(200_000_000);
        }
        catch (ArgumentOutOfRangeException)
        {
            // Larger than this runtime allows: count without it.
        }
        try
        {
            for (int i = 0; i < failures; i++) FailOnce();
            // A socket an incarnation created is closed when it fails, not left to the finalizer.
            AssertNoNewDescriptors(before, targetsBefore);
        }
        finally
        {
            if (noGc && System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.NoGCRegion) GC.EndNoGCRegion();
        }
    }
}
