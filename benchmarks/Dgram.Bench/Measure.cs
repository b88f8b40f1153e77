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

namespace Dgram.Bench;

/// <summary>One receive measurement.</summary>
internal sealed record Result(string Name, int Size, long Sent, long Received, long Dropped, double Seconds, double CpuUsPerDatagram,
    double BytesPerDatagram, double Gen0Per100k)
{
    public double Rate => Received / Seconds;
    public double Loss => Sent == 0 ? 0 : 1 - (double)Received / Sent;

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Name,-30} {Size,5} B  {Rate,10:N0}/s  loss {Loss,6:P1}  cpu {CpuUsPerDatagram,6:F2} us  alloc {BytesPerDatagram,7:F1} B  gen0/100k {Gen0Per100k,5:F1}");
}

internal static class Measure
{
    /// <summary>Starts the receiver, blasts it from the C sender for <paramref name="seconds"/>, and counts.</summary>
    public static async Task<Result> Receive(string name, int size, double seconds, int port, Func<int, Task<IReceiver>> start, string native)
    {
        await using IReceiver receiver = await start(port);
        // Warm-up: a short blast so JIT tiers and pools settle before the measured one.
        await Blast(native, port, size, 0.3);
        await Task.Delay(200);
        GC.Collect();
        long count0 = receiver.Count, dropped0 = receiver.Dropped;
        long alloc0 = GC.GetTotalAllocatedBytes(precise: true);
        int gen0 = GC.CollectionCount(0);
        TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        long sent = await Blast(native, port, size, seconds);
        await Task.Delay(200); // drain what is queued
        long received = receiver.Count - count0;
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
        long alloc = GC.GetTotalAllocatedBytes(precise: true) - alloc0;
        int collections = GC.CollectionCount(0) - gen0;
        double per = Math.Max(received, 1);
        return new Result(name, size, sent, received, receiver.Dropped - dropped0, seconds, cpu.TotalMicroseconds / per, alloc / per, collections * 100_000.0 / per);
    }

    /// <summary>A C receiver (recvfrom or recvmmsg) under the same blast: the ceiling.</summary>
    public static async Task<Result> NativeReceive(string mode, int size, double seconds, int port, string native)
    {
        var psi = new ProcessStartInfo(Path.Combine(native, "sink")) { RedirectStandardOutput = true };
        foreach (string a in new[] { mode, port.ToString(CultureInfo.InvariantCulture), (seconds + 0.5).ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        using var sink = Process.Start(psi)!;
        await sink.StandardOutput.ReadLineAsync(); // "ready"
        long sent = await Blast(native, port, size, seconds);
        string? line = await sink.StandardOutput.ReadLineAsync();
        await sink.WaitForExitAsync();
        long received = long.Parse(line ?? "0", CultureInfo.InvariantCulture);
        return new Result("c_" + mode, size, sent, received, 0, seconds, double.NaN, double.NaN, double.NaN);
    }

    internal static async Task<long> Blast(string native, int port, int size, double seconds, bool sendto = false)
    {
        var psi = new ProcessStartInfo(Path.Combine(native, "blast")) { RedirectStandardOutput = true };
        foreach (string a in new[] { "127.0.0.1", port.ToString(CultureInfo.InvariantCulture), size.ToString(CultureInfo.InvariantCulture), seconds.ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        if (sendto) psi.ArgumentList.Add("sendto");
        using var p = Process.Start(psi)!;
        string output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        return long.Parse(output.Trim(), CultureInfo.InvariantCulture);
    }
}

/// <summary>Ping-pong round trips against an echo thread: raw .NET async, and through the socket actor.</summary>
internal static class Latency
{
    private static Thread Echo(int port, CancellationToken stop)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 100 };
        s.Bind(new IPEndPoint(IPAddress.Loopback, port));
        var t = new Thread(() =>
        {
            byte[] buffer = new byte[64];
            var from = new SocketAddress(AddressFamily.InterNetwork);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    int n = s.ReceiveFrom(buffer, SocketFlags.None, from);
                    s.SendTo(buffer.AsSpan(0, n), SocketFlags.None, from);
                }
                catch (SocketException)
                {
                }
            }
            s.Dispose();
        }) { IsBackground = true };
        t.Start();
        return t;
    }

    /// <summary>
    /// Runs <paramref name="n"/> ping-pongs (after 1,000 unmeasured) against an echo thread on
    /// <paramref name="port"/>: <paramref name="open"/> sets the path up and returns one ping (send,
    /// then wait for the echo) and a cleanup.
    /// </summary>
    private static async Task<(string, double, double)> RoundTrips(string name, int port, int n,
        Func<IPEndPoint, Task<(Func<ValueTask> Ping, Func<Task> Close)>> open)
    {
        using var stop = new CancellationTokenSource();
        Thread echo = Echo(port, stop.Token);
        var (ping, close) = await open(new IPEndPoint(IPAddress.Loopback, port));
        var samples = new double[n];
        for (int i = -1000; i < n; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            await ping();
            if (i >= 0) samples[i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
        }
        await close();
        stop.Cancel();
        echo.Join();
        return (name, Percentile(samples, 0.50), Percentile(samples, 0.99));
    }

    /// <summary>.NET SendToAsync/ReceiveFromAsync.</summary>
    public static Task<(string, double, double)> RawAsync(int port, int n) => RoundTrips("raw_async", port, n, to =>
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        byte[] ping = new byte[32], pong = new byte[64];
        return Task.FromResult<(Func<ValueTask>, Func<Task>)>((async () =>
        {
            await s.SendToAsync(ping, SocketFlags.None, to);
            await s.ReceiveFromAsync(pong, SocketFlags.None, to);
        }, () => { s.Dispose(); return Task.CompletedTask; }));
    });

    /// <summary>Blocking .NET SendTo/ReceiveFrom.</summary>
    public static Task<(string, double, double)> RawSync(int port, int n) => RoundTrips("raw_sync", port, n, to =>
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        SocketAddress dest = to.Serialize(), from = new(AddressFamily.InterNetwork);
        byte[] ping = new byte[32], pong = new byte[64];
        return Task.FromResult<(Func<ValueTask>, Func<Task>)>((() =>
        {
            s.SendTo(ping, SocketFlags.None, dest);
            s.ReceiveFrom(pong, SocketFlags.None, from);
            return ValueTask.CompletedTask;
        }, () => { s.Dispose(); return Task.CompletedTask; }));
    });

    /// <summary>The socket core: SendTo and ReceiveFrom (recvmsg + poll).</summary>
    public static Task<(string, double, double)> Core(int port, int n) => RoundTrips("core", port, n, to =>
    {
        var s = DatagramSocket.Create(AddressFamily.InterNetwork);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        SocketAddress dest = to.Serialize(), from = s.CreateSocketAddress();
        byte[] ping = new byte[32], pong = new byte[64];
        return Task.FromResult<(Func<ValueTask>, Func<Task>)>((() =>
        {
            s.SendTo(ping, dest, TimeSpan.FromSeconds(1));
            s.ReceiveFrom(pong, from, TimeSpan.FromSeconds(1));
            return ValueTask.CompletedTask;
        }, () => { s.Dispose(); return Task.CompletedTask; }));
    });

    private static Task<SocketClient> StartClient(ActorSystem system, string name) => SocketClient.StartAsync(system, new SocketSettings
    {
        Name = name, Family = AddressFamily.InterNetwork, LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
        SocketOptions = new DatagramSocketOptions(),
    });

    /// <summary>Send through the actor's mailbox (Ask), the echo back through the read loop into an inline Rx subscription.</summary>
    public static Task<(string, double, double)> ActorRx(ActorSystem system, int port, int n) => RoundTrips("actor_rx", port, n, async to =>
    {
        var client = await StartClient(system, "rtt-rx-" + port);
        var streams = await client.OpenStreamsAsync();
        var pong = new Pong();
        var subscription = streams.Leases(new Dgram.Rx.SubscriberOptions { Inline = true }).Subscribe(l =>
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
    });

    /// <summary>Send told to the actor (no answer awaited), the echo comes back through its read loop to an inline handler.</summary>
    public static Task<(string, double, double)> ActorTell(ActorSystem system, int port, int n) => RoundTrips("actor_tell", port, n, async to =>
    {
        var client = await StartClient(system, "rtt-tell-" + port);
        var pong = new Pong();
        await client.AddHandlerAsync(pong);
        byte[] ping = new byte[32];
        var send = new SocketProtocol.Send(ping, to);
        return (async () =>
        {
            Task arrived = pong.Next();
            client.Socket.Tell(send, ActorRefs.NoSender);
            await arrived;
        }, async () => await client.Socket.GracefulStop(TimeSpan.FromSeconds(5)));
    });

    /// <summary>Send through the actor's mailbox (Ask), the echo comes back through its read loop to an inline handler.</summary>
    public static Task<(string, double, double)> Actor(ActorSystem system, int port, int n) => RoundTrips("actor", port, n, async to =>
    {
        var client = await StartClient(system, "rtt-" + port);
        var pong = new Pong();
        await client.AddHandlerAsync(pong);
        byte[] ping = new byte[32];
        return (async () =>
        {
            Task arrived = pong.Next();
            await client.SendToAsync(ping, to);
            await arrived;
        }, async () => await client.Socket.GracefulStop(TimeSpan.FromSeconds(5)));
    });

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

    private static double Percentile(double[] samples, double p)
    {
        var sorted = samples.Order().ToArray();
        return sorted[(int)Math.Min(sorted.Length - 1, Math.Round(p * (sorted.Length - 1)))];
    }
}

/// <summary>Send rates: C sendto and sendmmsg loops, the socket core one at a time and batched, and SendMany through the actor.</summary>
internal static class Senders
{
    public static async Task<List<(string Name, int Size, double Rate)>> Measure(ActorSystem system, string native, double seconds, int port)
    {
        var results = new List<(string, int, double)>();
        foreach (int size in new[] { 64, 1400 })
        {
            port++;
            using var sink = StartSink(native, port, seconds * 6 + 3);
            await sink.StandardOutput.ReadLineAsync(); // ready
            var to = new IPEndPoint(IPAddress.Loopback, port);
            results.Add(("c_sendto", size, await Dgram.Bench.Measure.Blast(native, port, size, seconds, sendto: true) / seconds));
            results.Add(("c_sendmmsg", size, await Dgram.Bench.Measure.Blast(native, port, size, seconds) / seconds));
            byte[] payload = new byte[size];

            using (var s = DatagramSocket.Create(AddressFamily.InterNetwork))
            {
                SocketAddress dest = to.Serialize();
                results.Add(("core_send", size, Loop(seconds, () => s.SendTo(payload, dest, TimeSpan.Zero).Status == SendStatus.Sent ? 1 : 0)));
                var batch = new DatagramSendBatch(64, size);
                while (batch.TryAdd(payload, to)) { }
                results.Add(("core_send_batched", size, Loop(seconds, () => s.SendBatch(batch, TimeSpan.Zero).Sent)));
                // UDP GSO: one buffer cut into as many datagrams as fit in a call (lo segments in software).
                byte[] burst = new byte[Math.Min(DatagramSocket.MaxSegments, 65000 / size) * size];
                results.Add(("core_send_gso", size, Loop(seconds, () => s.SendSegmented(burst, size, to, TimeSpan.Zero).Sent)));
            }

            var client = await SocketClient.StartAsync(system, new SocketSettings
            {
                Name = "send-" + port, Family = AddressFamily.InterNetwork, LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
                SocketOptions = new DatagramSocketOptions(),
            });
            var list = Enumerable.Range(0, 64).Select(_ => ((ReadOnlyMemory<byte>)payload, (EndPoint)to)).ToList();
            long sent = 0;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed.TotalSeconds < seconds) sent += (await client.SendManyAsync(list)).Sent;
            results.Add(("actor_send_many", size, sent / clock.Elapsed.TotalSeconds));
            results.Add(("actor_send_queued", size, await QueuedSends(system, client, payload, to, seconds)));
            await client.Socket.GracefulStop(TimeSpan.FromSeconds(5));
            sink.Kill();
        }
        return results;
    }

    /// <summary>
    /// Plain <c>Send</c> commands told 512 at a time without waiting between them (the mailbox coalesces
    /// them into sendmmsg); each window waits for its 512 answers.
    /// </summary>
    private static async Task<double> QueuedSends(ActorSystem system, SocketClient client, byte[] payload, EndPoint to, double seconds)
    {
        const int window = 512;
        var counter = new AnswerCounter();
        IActorRef replyTo = system.ActorOf(Props.Create(() => new AnswerActor(counter)));
        var send = new SocketProtocol.Send(payload, to);
        long sent = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            Task done = counter.Expect(window);
            for (int i = 0; i < window; i++) client.Socket.Tell(send, replyTo);
            await done;
            sent += window - counter.Failed;
        }
        double rate = sent / clock.Elapsed.TotalSeconds;
        system.Stop(replyTo);
        return rate;
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
            if (!sent) Failed++;
            if (Interlocked.Decrement(ref _left) == 0) _done.TrySetResult();
        }
    }

    private sealed class AnswerActor : UntypedActor
    {
        private readonly AnswerCounter _counter;
        public AnswerActor(AnswerCounter counter) => _counter = counter;
        protected override void OnReceive(object message) =>
            _counter.Answer(message is SocketProtocol.Sent { Result.Status: SendStatus.Sent });
    }

    private static double Loop(double seconds, Func<int> once)
    {
        long sent = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            for (int i = 0; i < 64; i++) sent += once();
        }
        return sent / clock.Elapsed.TotalSeconds;
    }

    private static Process StartSink(string native, int port, double seconds)
    {
        var psi = new ProcessStartInfo(Path.Combine(native, "sink")) { RedirectStandardOutput = true };
        foreach (string a in new[] { "recvmmsg", port.ToString(CultureInfo.InvariantCulture), seconds.ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }
}

internal static class Report
{
    public static void Print(List<Result> results, List<(string Name, double P50, double P99)> rtt, List<(string Name, int Size, double Rate)> sends,
        (double Rate, double Aggregate, bool SenderLimited) fanOut)
    {
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}, loopback, C sendmmsg sender");
        Console.WriteLine();
        Console.WriteLine($"{"path",-30} {"size",6}  {"datagrams/s",12}  {"loss",7}  {"cpu/dgram",9}  {"alloc/dgram",11}  {"gen0/100k",9}");
        foreach (Result r in results)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Name,-30} {r.Size,5}B  {r.Rate,12:N0}  {r.Loss,7:P1}  {Num(r.CpuUsPerDatagram, "F2") + " us",9}  {Num(r.BytesPerDatagram, "F1") + " B",11}  {Num(r.Gen0Per100k, "F1"),9}"));
        }
        Console.WriteLine();
        foreach (var (name, p50, p99) in rtt) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round trip {name,-10} p50 {p50,7:F1} us  p99 {p99,7:F1} us"));
        Console.WriteLine();
        foreach (var (name, size, rate) in sends) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"send {name,-20} {size,5}B  {rate,12:N0}/s"));
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fan-out: one group, 8 socket actors: highest lossless send rate {fanOut.Rate:N0}/s, aggregate deliveries {fanOut.Aggregate:N0}/s")
            + (fanOut.SenderLimited ? " (the sender was the limit: no loss at the most it could send)" : ""));
        Console.WriteLine();

        foreach (Result r in results)
        {
            Line($"rate {r.Name}_{r.Size}", r.Rate, "F0");
            if (!double.IsNaN(r.BytesPerDatagram)) Line($"alloc_per_datagram {r.Name}_{r.Size}", r.BytesPerDatagram, "F1");
            if (!double.IsNaN(r.Gen0Per100k)) Line($"gen0_per_100k {r.Name}_{r.Size}", r.Gen0Per100k, "F1");
            if (!double.IsNaN(r.CpuUsPerDatagram)) Line($"cpu_us_per_datagram {r.Name}_{r.Size}", r.CpuUsPerDatagram, "F3");
        }
        foreach (int size in results.Select(r => r.Size).Distinct())
        {
            Result Get(string n) => results.Single(r => r.Name == n && r.Size == size);
            Line($"ratio actor_rx_inline_vs_raw_sync_{size}", Get("actor_rx_inline_zero_copy").Rate / Get("raw_sync").Rate);
            Line($"ratio actor_rx_buffered_vs_raw_sync_{size}", Get("actor_rx_buffered_zero_copy").Rate / Get("raw_sync").Rate);
            Line($"ratio actor_rx_inline_vs_akka_io_{size}", Get("actor_rx_inline_zero_copy").Rate / Math.Max(1, Get("akka_io").Rate));
            Line($"ratio batched_vs_c_recvmmsg_{size}", Get("batched").Rate / Math.Max(1, Get("c_recvmmsg").Rate));
            Line($"ratio cpu_actor_rx_inline_vs_raw_sync_{size}", Get("actor_rx_inline_zero_copy").CpuUsPerDatagram / Get("raw_sync").CpuUsPerDatagram);
        }
        foreach (var (name, p50, p99) in rtt)
        {
            Line($"rtt_p50_us {name}", p50, "F1");
            Line($"rtt_p99_us {name}", p99, "F1");
        }
        foreach (var (name, size, rate) in sends) Line($"send_rate {name}_{size}", rate, "F0");
        foreach (int size in sends.Select(x => x.Size).Distinct())
        {
            double Rate(string n) => sends.Single(x => x.Name == n && x.Size == size).Rate;
            Line($"ratio batched_send_vs_c_sendto_{size}", Rate("core_send_batched") / Rate("c_sendto"));
            Line($"ratio batched_send_vs_core_send_{size}", Rate("core_send_batched") / Rate("core_send"));
            Line($"ratio gso_send_vs_c_sendto_{size}", Rate("core_send_gso") / Rate("c_sendto"));
            Line($"ratio actor_send_many_vs_c_sendto_{size}", Rate("actor_send_many") / Rate("c_sendto"));
            Line($"ratio actor_send_queued_vs_c_sendto_{size}", Rate("actor_send_queued") / Rate("c_sendto"));
        }
        Line("fanout_lossless_rate_8_sockets", fanOut.Rate, "F0");
        Line("fanout_aggregate_8_sockets", fanOut.Aggregate, "F0");
        Line("ratio fanout_aggregate_vs_raw_sync_64", fanOut.Aggregate / results.Single(r => r.Name == "raw_sync" && r.Size == 64).Rate);
        Line("ratio rtt_p99_actor_vs_raw_async", rtt.Single(r => r.Name == "actor").P99 / rtt.Single(r => r.Name == "raw_async").P99);
        Line("ratio rtt_p99_actor_tell_vs_raw_async", rtt.Single(r => r.Name == "actor_tell").P99 / rtt.Single(r => r.Name == "raw_async").P99);
    }

    private static string Num(double v, string format) => double.IsNaN(v) ? "n/a" : v.ToString(format, CultureInfo.InvariantCulture);

    private static void Line(string key, double value, string format = "F2") =>
        Console.WriteLine($"{key}={value.ToString(format, CultureInfo.InvariantCulture)}");
}
