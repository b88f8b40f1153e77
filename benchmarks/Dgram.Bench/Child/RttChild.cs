using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Supervision;
using Dgram.Rx;

namespace Dgram.Bench.Child;

/// <summary>
/// <c>rtt</c>: ping-pong round trips of one path against the C echo (<c>sink --mode echo</c>, pinned to the
/// other core): 1,000 unmeasured, then <c>--count</c> measured, <c>--reps</c> times. Prints
/// <c>rtt rep=I p50=US p99=US</c> per repetition.
/// </summary>
internal static class RttChild
{
    public const string Usage = "rtt --path P --dest ADDR --port N [--count N] [--reps R]";

    private delegate Task<(Func<ValueTask> Ping, Func<Task> Close)> Open(Lazy<ActorSystem> system, IPEndPoint to);

    // raw_sync/raw_async: blocking and async .NET sockets; core: the socket core (recvmsg + poll); actor: SendToAsync
    // through the actor (Ask), the echo through the read loop to a span handler; actor_tell: Send told instead;
    // actor_rx: the echo through an inline Rx subscription.
    private static readonly IReadOnlyDictionary<string, Open> s_paths = new Dictionary<string, Open>
    {
        ["raw_sync"] = RawSync,
        ["raw_async"] = RawAsync,
        ["core"] = Core,
        ["actor"] = Actor,
        ["actor_tell"] = ActorTell,
        ["actor_rx"] = ActorRx,
    };

    /// <summary>The round-trip paths, in the order the orchestrator runs them.</summary>
    public static IEnumerable<string> Paths => s_paths.Keys;

    public static async Task<int> RunAsync(string[] args)
    {
        var o = new Options(args);
        string path = o.Required("--path");
        var to = new IPEndPoint(IPAddress.Parse(o.Required("--dest")), o.Int("--port", 0));
        int count = o.Int("--count", 20_000), reps = o.Int("--reps", 3);
        o.End();
        if (!s_paths.TryGetValue(path, out Open? open)) throw new ArgumentException($"unknown path '{path}'; known: {string.Join(", ", s_paths.Keys)}");
        Threads.SetExplicitly();
        // Only the actor paths create an actor system (its idle threads are not the raw paths' to pay).
        var system = new Lazy<ActorSystem>(() => Threads.CreateActorSystem("rtt"));
        var (ping, close) = await open(system, to);
        var samples = new double[count];
        for (int rep = 0; rep < reps; rep++)
        {
            for (int i = -1000; i < count; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                await ping();
                if (i >= 0) samples[i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
            }
            Array.Sort(samples);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"rtt rep={rep} p50={Percentile(samples, 0.50):F1} p99={Percentile(samples, 0.99):F1}"));
        }
        await close();
        if (system.IsValueCreated) await system.Value.Terminate();
        return 0;
    }

    /// <summary>The nearest-rank percentile of sorted samples (with 50 samples the p99 is the largest).</summary>
    internal static double Percentile(double[] sorted, double p) => sorted[(int)Math.Min(sorted.Length - 1, Math.Round(p * (sorted.Length - 1)))];

    private static Socket Bound(IPEndPoint to)
    {
        var s = new Socket(to.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(to.Address, 0));
        return s;
    }

    private static Task<(Func<ValueTask>, Func<Task>)> RawAsync(Lazy<ActorSystem> _, IPEndPoint to)
    {
        Socket s = Bound(to);
        byte[] ping = new byte[32], pong = new byte[64];
        return Task.FromResult<(Func<ValueTask>, Func<Task>)>((async () =>
        {
            await s.SendToAsync(ping, SocketFlags.None, to);
            await s.ReceiveFromAsync(pong, SocketFlags.None, to);
        }, () => { s.Dispose(); return Task.CompletedTask; }));
    }

    private static Task<(Func<ValueTask>, Func<Task>)> RawSync(Lazy<ActorSystem> _, IPEndPoint to)
    {
        Socket s = Bound(to);
        SocketAddress dest = to.Serialize(), from = new(to.AddressFamily);
        byte[] ping = new byte[32], pong = new byte[64];
        return Task.FromResult<(Func<ValueTask>, Func<Task>)>((() =>
        {
            s.SendTo(ping, SocketFlags.None, dest);
            s.ReceiveFrom(pong, SocketFlags.None, from);
            return ValueTask.CompletedTask;
        }, () => { s.Dispose(); return Task.CompletedTask; }));
    }

    private static Task<(Func<ValueTask>, Func<Task>)> Core(Lazy<ActorSystem> _, IPEndPoint to)
    {
        var s = DatagramSocket.Create(to.AddressFamily);
        s.Bind(new IPEndPoint(to.Address, 0));
        SocketAddress dest = to.Serialize(), from = s.CreateSocketAddress();
        byte[] ping = new byte[32], pong = new byte[64];
        return Task.FromResult<(Func<ValueTask>, Func<Task>)>((() =>
        {
            s.SendTo(ping, dest, TimeSpan.FromSeconds(1));
            s.ReceiveFrom(pong, from, TimeSpan.FromSeconds(1));
            return ValueTask.CompletedTask;
        }, () => { s.Dispose(); return Task.CompletedTask; }));
    }

    private static Task<SocketClient> StartClient(ActorSystem system, IPEndPoint to) => SocketClient.StartAsync(system, new SocketSettings
    {
        Name = "rtt", Family = to.AddressFamily, LocalEndPoint = new IPEndPoint(to.Address, 0),
        SocketOptions = new DatagramSocketOptions(),
    });

    private static async Task<(Func<ValueTask>, Func<Task>)> ActorRx(Lazy<ActorSystem> system, IPEndPoint to)
    {
        var client = await StartClient(system.Value, to);
        var streams = await client.OpenStreamsAsync();
        var pong = new Pong();
        var subscription = streams.Leases(new SubscriberOptions { Inline = true }).Subscribe(l =>
        {
            l.Dispose();
            pong.OnDatagram(default, default, default, 0);
        });
        byte[] ping = new byte[32];
        return (async () =>
        {
            Task arrived = pong.Next();
            await client.SendToAsync(ping, to);
            await arrived;
        }, async () =>
        {
            subscription.Dispose();
            streams.Dispose();
            await client.Socket.GracefulStop(TimeSpan.FromSeconds(5));
        });
    }

    private static async Task<(Func<ValueTask>, Func<Task>)> ActorTell(Lazy<ActorSystem> system, IPEndPoint to)
    {
        var client = await StartClient(system.Value, to);
        var pong = new Pong();
        await client.AddHandlerAsync(pong);
        var send = new SocketProtocol.Send(new byte[32], to);
        return (async () =>
        {
            Task arrived = pong.Next();
            client.Socket.Tell(send, ActorRefs.NoSender);
            await arrived;
        }, async () => await client.Socket.GracefulStop(TimeSpan.FromSeconds(5)));
    }

    private static async Task<(Func<ValueTask>, Func<Task>)> Actor(Lazy<ActorSystem> system, IPEndPoint to)
    {
        var client = await StartClient(system.Value, to);
        var pong = new Pong();
        await client.AddHandlerAsync(pong);
        byte[] ping = new byte[32];
        return (async () =>
        {
            Task arrived = pong.Next();
            await client.SendToAsync(ping, to);
            await arrived;
        }, async () => await client.Socket.GracefulStop(TimeSpan.FromSeconds(5)));
    }

    private sealed class Pong : IDatagramHandler
    {
        private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Next()
        {
            _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _next.Task;
        }

        public bool OnDatagram(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> sourceAddress, in ReceiveResult result, long sequence)
        {
            _next.TrySetResult();
            return true;
        }

        public void OnStatus(SocketStatus status) { }
    }
}
