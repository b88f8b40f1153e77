using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Diagnostics;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Supervision;

namespace Dgram.Bench;

/// <summary>
/// What N idle socket actors cost, as a child process inside the lab namespace:
/// <c>scale --sockets N --iface lab0a --port P [--send-iface lab0b]</c>. Socket i binds port P + i and joins its
/// own group 239.255.x.y (i + 1 as x.y) on the interface, with the library's defaults but the benchmarks'
/// socket options (no per-datagram metadata) and a span handler that counts. With <c>--send-iface</c> each
/// socket first receives one datagram on its group, sent out of that interface, so the engine has read
/// every socket and allocated what reading needs (its threads' receive batches) before the quiet interval:
/// memory that only traffic brings cannot hide. The quiet interval (5 s) starts once tiered compilation has
/// finished (<see cref="SettleAsync"/>). Prints one line to stdout,
/// <c>scale sockets=N threads=T engine_threads=E rss_mib=R native_mib=M idle_cpu_pct=P start_ms=S stop_ms=S</c>;
/// diagnostics (the idle CPU by thread kind among them) go to stderr. N = 0 is the baseline: an actor
/// system whose scheduler has fired once.
/// </summary>
internal static class Scale
{
    public const string Usage = "scale --sockets N --iface NAME --port P [--send-iface NAME]   (N >= 0, P >= 1, P + N - 1 <= 65535)";
    private const int Idle = 5000;
    /// <summary>The longest wait for tiered compilation to finish before the quiet interval starts anyway.</summary>
    private static readonly TimeSpan SettleLimit = TimeSpan.FromSeconds(30);

    public static async Task<int> RunAsync(string[] args)
    {
        var o = new Options(args);
        int n = o.Int("--sockets", -1), port = o.Int("--port", 0);
        string iface = o.Required("--iface");
        string? sendIface = o.Get("--send-iface");
        o.End();
        if (n < 0 || port < 1 || port + n - 1 > 65535) throw new ArgumentException("--sockets N >= 0 and --port P >= 1 with P + N - 1 <= 65535");
        // Also opens stderr now: with descriptors exhausted, a first write to it would fail.
        Console.Error.WriteLine($"scale: {n} sockets on {iface} from port {port}");
        var system = Child.Threads.CreateActorSystem("scale");
        // A bare actor system idles at ~0.1 % of a core until its scheduler has fired once, then at 7–8 %
        // (LAB-FACTS): fire it, so that N = 0 is the baseline every socket count pays anyway.
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        system.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(1), () => fired.SetResult());
        await fired.Task;

        // A socket actor holds one descriptor (its socket; the engine's threads hold an epoll and an eventfd
        // each). Past the limit not only the sockets fail: at ulimit -n 1024 and 1,000 sockets (two descriptors
        // each then) the runtime threw OutOfMemoryException and aborted with "Out of memory." instead of
        // reporting EMFILE. Refuse up front.
        long limit = ProcSelf.OpenFilesLimit(), open = ProcSelf.OpenDescriptors(), needed = open + n + 64;
        if (needed > limit)
        {
            Console.Error.WriteLine($"scale: {n} sockets need about {needed} descriptors ({open} open now, 1 per socket, 64 spare), but `ulimit -n` is {limit}: raise it");
            await system.Terminate();
            return 1;
        }

        var clock = Stopwatch.StartNew();
        var arrivals = new Arrivals(n);
        SocketClient[] clients;
        try
        {
            clients = await Task.WhenAll(Enumerable.Range(0, n).Select(i => SocketClient.StartAsync(system, new SocketSettings
            {
                Name = $"scale-{port + i}", Family = AddressFamily.InterNetwork, LocalEndPoint = new IPEndPoint(IPAddress.Any, port + i),
                SocketOptions = new DatagramSocketOptions(), // no per-datagram metadata, as the other benchmarks
                Groups = [new GroupSettings(Group(i), iface)],
            }, TimeSpan.FromSeconds(60))));
        }
        catch (Exception e)
        {
            // One failure is enough to make the line meaningless (a descriptor limit, say: ulimit -n).
            Console.Error.WriteLine($"scale: starting {n} sockets failed: {e.Message}");
            await system.Terminate();
            return 1;
        }
        // Start as it was always timed: the sockets bound and joined; the handlers come after.
        long startMs = clock.ElapsedMilliseconds;
        await Task.WhenAll(clients.Select((c, i) => c.AddHandlerAsync(arrivals.For(i))));
        int joined = JoinedGroups(n, iface);
        Console.Error.WriteLine($"scale: {n} sockets started in {startMs} ms; {joined} of their groups joined on {iface} (/proc/net/igmp)");
        if (joined != n)
        {
            Console.Error.WriteLine($"scale: only {joined} of {n} groups are in /proc/net/igmp on {iface}");
            await system.Terminate();
            return 1;
        }
        if (sendIface is not null && n > 0 && !await ReceiveOneEachAsync(arrivals, port, sendIface))
        {
            await system.Terminate();
            return 1;
        }

        await SettleAsync();
        var tasks0 = ProcSelf.Tasks();
        double cpu0 = Child.ProcessClock.CpuMicroseconds();
        clock.Restart();
        await Task.Delay(Idle);
        double idlePct = (Child.ProcessClock.CpuMicroseconds() - cpu0) / 1000 / clock.Elapsed.TotalMilliseconds * 100;
        var tasks1 = ProcSelf.Tasks();
        Console.Error.WriteLine($"scale: idle CPU by thread kind (ms over {clock.Elapsed.TotalSeconds:F1} s; threads): {IdleByKind(tasks0, tasks1)}");
        int threads = tasks1.Count;
        int engineThreads = tasks1.Count(t => t.Name.StartsWith("dgram-io-", StringComparison.Ordinal) || t.Name.StartsWith("dgram-read-", StringComparison.Ordinal));
        Console.Error.WriteLine($"scale: {ProcSelf.OpenDescriptors()} descriptors open (limit {limit})");
        double rssMib = ProcSelf.Status("VmRSS:") / 1024.0; // kB
        double nativeMib = BufferBytes() / (1024.0 * 1024.0);

        clock.Restart();
        bool[] stopped = await Task.WhenAll(clients.Select(c => c.Socket.GracefulStop(TimeSpan.FromSeconds(60))));
        long stopMs = clock.ElapsedMilliseconds;
        int notStopped = stopped.Count(s => !s);
        Console.Error.WriteLine($"scale: {n - notStopped} of {n} sockets stopped in {stopMs} ms");
        await system.Terminate();
        if (notStopped > 0) return 1;

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"scale sockets={n} threads={threads} engine_threads={engineThreads} rss_mib={rssMib:F1} native_mib={nativeMib:F1} idle_cpu_pct={idlePct:F1} start_ms={startMs} stop_ms={stopMs}"));
        return 0;
    }

    /// <summary>Socket <paramref name="index"/>'s own group: 239.255.0.1, 239.255.0.2, … (65,535 of them).</summary>
    private static IPAddress Group(int index) => new([239, 255, (byte)((index + 1) >> 8), (byte)(index + 1)]);

    /// <summary>How many of the sockets' groups the kernel lists as joined on <paramref name="iface"/>.</summary>
    private static int JoinedGroups(int n, string iface)
    {
        int index = NetworkInterfaceNames.GetIndex(iface);
        var groups = Enumerable.Range(0, n).Select(Group).ToHashSet();
        return KernelMulticastTables.Igmp().Count(r => r.InterfaceIndex == index && groups.Contains(r.Group));
    }

    /// <summary>
    /// Sends one datagram to each socket's group and port out of <paramref name="sendIface"/> and waits (5 s) until
    /// every socket has counted one. False, with the count on stderr, when some did not.
    /// </summary>
    private static async Task<bool> ReceiveOneEachAsync(Arrivals arrivals, int port, string sendIface)
    {
        using var sender = DatagramSocket.Create(AddressFamily.InterNetwork);
        sender.SetMulticastInterface(sendIface);
        byte[] payload = new byte[64];
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < arrivals.Sockets; i++)
        {
            SendResult sent = sender.SendTo(payload, new IPEndPoint(Group(i), port + i), TimeSpan.FromSeconds(1));
            if (sent.Status != SendStatus.Sent) throw new InvalidOperationException($"scale: sending to {Group(i)}:{port + i} out of {sendIface}: {sent}");
        }
        bool all = await arrivals.All.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(t => t.IsCompletedSuccessfully);
        Console.Error.WriteLine($"scale: {arrivals.Received} of {arrivals.Sockets} sockets received their datagram (sent out of {sendIface}) within {clock.ElapsedMilliseconds} ms");
        return all;
    }

    /// <summary>
    /// Waits until tiered compilation is done: measured, the JIT thread (".NET Tiered Compilation", cut to
    /// 15 characters) still took 100–600 ms of every 2 s for about 10 s after 1,000 sockets started and
    /// received (100 ms of 2 s at N = 0), more than the idle difference the goal allows. Done when it used no
    /// CPU over a whole second (at least 2 s after start; at most <see cref="SettleLimit"/>).
    /// </summary>
    private static async Task SettleAsync()
    {
        const string jit = ".NET Tiered Com";
        var clock = Stopwatch.StartNew();
        long Ticks() => ProcSelf.Tasks().Where(t => t.Name == jit).Sum(t => t.Ticks);
        await Task.Delay(1000);
        long last = Ticks();
        while (clock.Elapsed < SettleLimit)
        {
            await Task.Delay(1000);
            long now = Ticks();
            if (now == last)
            {
                Console.Error.WriteLine($"scale: tiered compilation quiet after {clock.ElapsedMilliseconds} ms");
                return;
            }
            last = now;
        }
        Console.Error.WriteLine($"scale: tiered compilation still busy after {clock.ElapsedMilliseconds} ms; measuring anyway");
    }

    /// <summary>CPU (ms) and thread count per thread kind between two listings, the busiest first; threads born in between count from 0.</summary>
    private static string IdleByKind(IReadOnlyList<ProcSelf.TaskTime> before, IReadOnlyList<ProcSelf.TaskTime> after)
    {
        var start = before.ToDictionary(t => t.Id, t => t.Ticks);
        return string.Join(", ", after.GroupBy(t => ProcSelf.Kind(t.Name))
            .Select(g => (Kind: g.Key, Ms: g.Sum(t => t.Ticks - start.GetValueOrDefault(t.Id)) * 10, Count: g.Count()))
            .OrderByDescending(x => x.Ms).ThenBy(x => x.Kind, StringComparer.Ordinal)
            .Select(x => $"'{x.Kind}' {x.Ms} ({x.Count})"));
    }

    /// <summary>The library's <c>dgram.buffers.bytes</c> gauge, as any MeterListener reads it (0 while unpublished: nothing allocated).</summary>
    private static long BufferBytes()
    {
        long bytes = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == DgramMetrics.MeterName && instrument.Name == "dgram.buffers.bytes") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => bytes = value);
        listener.Start();
        listener.RecordObservableInstruments();
        return bytes;
    }

    /// <summary>Which sockets have received a datagram: one span handler per socket, on whichever engine thread reads it.</summary>
    private sealed class Arrivals(int sockets)
    {
        private readonly int[] _seen = new int[sockets];
        private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _received;

        public int Sockets => sockets;
        public int Received => Volatile.Read(ref _received);
        public Task All => _all.Task;

        public IDatagramHandler For(int index) => new Handler(this, index);

        private void Arrived(int index)
        {
            if (Interlocked.Exchange(ref _seen[index], 1) == 0 && Interlocked.Increment(ref _received) == sockets) _all.TrySetResult();
        }

        private sealed class Handler(Arrivals arrivals, int index) : IDatagramHandler
        {
            public bool OnDatagram(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> sourceAddress, in ReceiveResult result, long sequence)
            {
                arrivals.Arrived(index);
                return true;
            }

            public void OnStatus(SocketStatus status) { }
        }
    }
}
