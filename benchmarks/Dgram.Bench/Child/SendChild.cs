using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;

namespace Dgram.Bench.Child;

/// <summary>
/// <c>send</c>: one send path in a process of its own, paced like the C <c>pace --tick-us 1000</c>: wake
/// every millisecond and send what the token bucket holds in calls of up to 64 datagrams (unpaced at
/// rate 0). Prints <c>ready</c> after a warm-up, then answers each <c>run RATE SECONDS</c> with the C
/// sender's line: <c>sent=N seconds=S cpu_us=U</c>.
/// </summary>
internal static class SendChild
{
    public const string Usage = "send --path P --dest ADDR --port N --size B   (then lines: run RATE SECONDS | quit)";

    public static readonly string[] Paths = ["actor_send_many", "actor_send_queued", "core_send_batched", "core_send_gso", "raw_sendto"];

    public static async Task<int> RunAsync(string[] args)
    {
        var o = new Options(args);
        string path = o.Required("--path");
        var to = new IPEndPoint(IPAddress.Parse(o.Required("--dest")), o.Int("--port", 0));
        int size = o.Int("--size", 64);
        o.End();
        Threads.SetExplicitly();
        // Only the actor paths create an actor system (its idle cost is not the raw paths' to pay).
        var system = new Lazy<ActorSystem>(() => Threads.CreateActorSystem("send"));
        byte[] payload = new byte[size];
        // A call carries up to 64 datagrams; a GSO call is one buffer of at most ~64 KiB, as in pace.c.
        int perCall = path == "core_send_gso" ? Math.Min(64, 65000 / size) : path == "raw_sendto" ? 1 : 64;
        Func<int, int> send;
        Func<Task> close = () => Task.CompletedTask;
        switch (path)
        {
            case "raw_sendto":
            {
                var s = new Socket(to.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                SocketAddress dest = to.Serialize();
                send = _ => s.SendTo(payload, SocketFlags.None, dest) > 0 ? 1 : 0;
                close = () => { s.Dispose(); return Task.CompletedTask; };
                break;
            }
            case "core_send_batched":
            {
                var s = DatagramSocket.Create(to.AddressFamily);
                var batches = Enumerable.Range(0, 65).Select(n =>
                {
                    var b = new DatagramSendBatch(Math.Max(n, 1), size);
                    for (int i = 0; i < n; i++) b.TryAdd(payload, to);
                    return b;
                }).ToArray();
                send = n => s.SendBatch(batches[n], TimeSpan.Zero).Sent;
                close = () => { s.Dispose(); return Task.CompletedTask; };
                break;
            }
            case "core_send_gso":
            {
                var s = DatagramSocket.Create(to.AddressFamily);
                byte[] burst = new byte[perCall * size];
                send = n => s.SendSegmented(burst.AsSpan(0, n * size), size, to, TimeSpan.Zero).Sent;
                close = () => { s.Dispose(); return Task.CompletedTask; };
                break;
            }
            case "actor_send_many":
            {
                var client = await StartClient(system.Value, to);
                var lists = Enumerable.Range(0, 65).Select(n => Enumerable.Range(0, n).Select(_ => ((ReadOnlyMemory<byte>)payload, (EndPoint)to)).ToList()).ToArray();
                send = n => client.SendManyAsync(lists[n]).GetAwaiter().GetResult().Sent;
                close = () => client.Socket.GracefulStop(TimeSpan.FromSeconds(5));
                break;
            }
            case "actor_send_queued":
            {
                // Plain Send commands told without waiting between them (the mailbox coalesces them into
                // batched sends); the answers of one wake-up's commands are awaited before the next.
                var client = await StartClient(system.Value, to);
                var answers = new AnswerCounter();
                IActorRef replyTo = system.Value.ActorOf(Props.Create(() => new AnswerActor(answers)));
                var command = new SocketProtocol.Send(payload, to);
                perCall = 1 << 20; // one wake-up tells everything due
                send = n =>
                {
                    Task done = answers.Expect(n);
                    for (int i = 0; i < n; i++) client.Socket.Tell(command, replyTo);
                    done.GetAwaiter().GetResult();
                    return n - answers.Failed;
                };
                close = () => client.Socket.GracefulStop(TimeSpan.FromSeconds(5));
                break;
            }
            default:
                throw new ArgumentException($"unknown path '{path}'; known: {string.Join(", ", Paths)}");
        }

        // The paced loop and the protocol block: on a thread of their own, never on a pool thread.
        await Task.Factory.StartNew(() =>
        {
            // Warm-up before "ready": JIT tiers and pools settle outside every measurement.
            Pace(send, perCall, 0, 0.3);
            Console.WriteLine("ready");
            while (Console.ReadLine() is { } line && line != "quit")
            {
                // "run RATE SECONDS" (rate 0: unpaced)
                string[] words = line.Split(' ');
                if (words.Length != 3 || words[0] != "run") continue;
                double rate = double.Parse(words[1], CultureInfo.InvariantCulture), seconds = double.Parse(words[2], CultureInfo.InvariantCulture);
                double cpu0 = ProcessClock.CpuMicroseconds();
                var (sent, elapsed) = Pace(send, perCall, rate, seconds);
                double cpu = ProcessClock.CpuMicroseconds() - cpu0;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sent={sent} seconds={elapsed:F6} cpu_us={cpu:F0}"));
            }
        }, TaskCreationOptions.LongRunning);
        await close();
        if (system.IsValueCreated) await system.Value.Terminate();
        return 0;
    }

    private static Task<SocketClient> StartClient(ActorSystem system, IPEndPoint to) => SocketClient.StartAsync(system, new SocketSettings
    {
        Name = "send", Family = to.AddressFamily,
        LocalEndPoint = new IPEndPoint(to.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0),
        SocketOptions = new DatagramSocketOptions(),
    });

    /// <summary>
    /// The token bucket of pace.c with a 1 ms tick: tokens accrue at the rate (at most 10 ms' worth), each
    /// wake-up spends them in calls of up to <paramref name="perCall"/>; rate 0 sends back to back.
    /// </summary>
    private static (long Sent, double Seconds) Pace(Func<int, int> send, int perCall, double rate, double seconds)
    {
        long sent = 0;
        var clock = Stopwatch.StartNew();
        // 10 ms of tokens: a wake-up that comes late (timer slack, a busy core) catches up instead of losing them.
        double tokens = 0, last = 0, depth = Math.Max(2.0 * Math.Min(perCall, 64), rate * 0.01);
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            if (rate <= 0)
            {
                sent += send(Math.Min(perCall, 64));
                continue;
            }
            double now = clock.Elapsed.TotalSeconds;
            tokens = Math.Min(depth, tokens + (now - last) * rate);
            last = now;
            while (tokens >= 1)
            {
                int n = (int)Math.Min(tokens, perCall);
                sent += send(n);
                tokens -= n;
            }
            Thread.Sleep(1);
        }
        return (sent, clock.Elapsed.TotalSeconds);
    }

    private sealed class AnswerCounter
    {
        private int _left;
        private TaskCompletionSource _done = new();
        public int Failed;

        public Task Expect(int n)
        {
            Failed = 0;
            _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _left, n);
            return _done.Task;
        }

        public void Answer(bool sent)
        {
            if (!sent) Interlocked.Increment(ref Failed);
            if (Interlocked.Decrement(ref _left) == 0) _done.TrySetResult();
        }
    }

    private sealed class AnswerActor(AnswerCounter counter) : UntypedActor
    {
        protected override void OnReceive(object message) =>
            counter.Answer(message is SocketProtocol.Sent { Result.Status: SendStatus.Sent });
    }
}
