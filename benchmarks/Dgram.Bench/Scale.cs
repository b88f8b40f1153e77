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

namespace Dgram.Bench;

/// <summary>
/// What N idle socket actors cost, as a child process inside the lab namespace:
/// <c>scale --sockets N --iface lab0a --port P</c>. Socket i binds port P + i and joins its own group
/// 239.255.x.y (i + 1 as x.y) on the interface, with the library's defaults but the benchmarks' socket
/// options (no per-datagram metadata). Prints one line to stdout,
/// <c>scale sockets=N threads=T rss_mib=R native_mib=M idle_cpu_pct=P start_ms=S stop_ms=S</c>;
/// diagnostics go to stderr. N = 0 is the baseline: an actor system whose scheduler has fired once.
/// </summary>
internal static class Scale
{
    public const string Usage = "scale --sockets N --iface NAME --port P   (N >= 0, P >= 1, P + N - 1 <= 65535)";
    private const int Settle = 1000, Idle = 5000;

    public static async Task<int> RunAsync(string[] args)
    {
        var o = new Options(args);
        int n = o.Int("--sockets", -1), port = o.Int("--port", 0);
        string iface = o.Required("--iface");
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

        // Each socket actor holds two descriptors (its socket, the read loop's eventfd). Past the limit not
        // only the sockets fail: at ulimit -n 1024 and 1,000 sockets the runtime threw OutOfMemoryException
        // and aborted with "Out of memory." instead of reporting EMFILE. Refuse up front.
        long limit = OpenFilesLimit(), open = OpenDescriptors(), needed = open + 2L * n + 64;
        if (needed > limit)
        {
            Console.Error.WriteLine($"scale: {n} sockets need about {needed} descriptors ({open} open now, 2 per socket, 64 spare), but `ulimit -n` is {limit}: raise it");
            await system.Terminate();
            return 1;
        }

        var clock = Stopwatch.StartNew();
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
        long startMs = clock.ElapsedMilliseconds;
        int joined = JoinedGroups(n, iface);
        Console.Error.WriteLine($"scale: {n} sockets started in {startMs} ms; {joined} of their groups joined on {iface} (/proc/net/igmp)");
        if (joined != n)
        {
            Console.Error.WriteLine($"scale: only {joined} of {n} groups are in /proc/net/igmp on {iface}");
            await system.Terminate();
            return 1;
        }

        await Task.Delay(Settle);
        double cpu0 = Child.ProcessClock.CpuMicroseconds();
        clock.Restart();
        await Task.Delay(Idle);
        double idlePct = (Child.ProcessClock.CpuMicroseconds() - cpu0) / 1000 / clock.Elapsed.TotalMilliseconds * 100;
        long threads = ProcStatus("Threads:");
        Console.Error.WriteLine($"scale: {OpenDescriptors()} descriptors open (limit {limit})");
        double rssMib = ProcStatus("VmRSS:") / 1024.0; // kB
        double nativeMib = BufferBytes() / (1024.0 * 1024.0);

        clock.Restart();
        bool[] stopped = await Task.WhenAll(clients.Select(c => c.Socket.GracefulStop(TimeSpan.FromSeconds(60))));
        long stopMs = clock.ElapsedMilliseconds;
        int notStopped = stopped.Count(s => !s);
        Console.Error.WriteLine($"scale: {n - notStopped} of {n} sockets stopped in {stopMs} ms");
        await system.Terminate();
        if (notStopped > 0) return 1;

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"scale sockets={n} threads={threads} rss_mib={rssMib:F1} native_mib={nativeMib:F1} idle_cpu_pct={idlePct:F1} start_ms={startMs} stop_ms={stopMs}"));
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

    /// <summary>The number after <paramref name="key"/> in /proc/self/status (VmRSS is in kB).</summary>
    private static long ProcStatus(string key)
    {
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(key, StringComparison.Ordinal));
        return long.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }

    /// <summary>The soft descriptor limit (ulimit -n), from /proc/self/limits ("Max open files  SOFT  HARD  files").</summary>
    private static long OpenFilesLimit()
    {
        string soft = File.ReadLines("/proc/self/limits").First(l => l.StartsWith("Max open files", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[3];
        return soft == "unlimited" ? long.MaxValue : long.Parse(soft, CultureInfo.InvariantCulture);
    }

    private static int OpenDescriptors() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

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
}
