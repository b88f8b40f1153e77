using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
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
    private const int Settle = 1000, Idle = 5000;

    public static async Task<int> RunAsync(string[] args)
    {
        if (Parse(args) is not var (n, iface, port))
        {
            Console.Error.WriteLine("usage: scale --sockets N --iface IFNAME --port P   (N ≥ 0, P ≥ 1, P + N - 1 ≤ 65535)");
            return 2;
        }
        // Also opens stderr now: with descriptors exhausted, a first write to it would fail.
        Console.Error.WriteLine($"scale: {n} sockets on {iface} from port {port}");
        var system = ActorSystem.Create("scale", "akka.loglevel = WARNING\nakka.log-dead-letters = off");
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
        TimeSpan cpu0 = CpuTime();
        clock.Restart();
        await Task.Delay(Idle);
        double idlePct = (CpuTime() - cpu0).TotalMilliseconds / clock.Elapsed.TotalMilliseconds * 100;
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

    private static (int Sockets, string Iface, int Port)? Parse(string[] args)
    {
        int? sockets = null, port = null;
        string? iface = null;
        for (int i = 0; i < args.Length; i += 2)
        {
            if (i + 1 >= args.Length) return null;
            string value = args[i + 1];
            switch (args[i])
            {
                case "--sockets" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int s): sockets = s; break;
                case "--port" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int p): port = p; break;
                case "--iface" when value.Length > 0: iface = value; break;
                default: return null;
            }
        }
        if (sockets is not int n || port is not int first || iface is null) return null;
        if (first < 1 || first + n - 1 > 65535) return null; // also keeps N within the 65,535 groups
        return (n, iface, first);
    }

    /// <summary>Socket <paramref name="index"/>'s own group: 239.255.0.1, 239.255.0.2, … (65,535 of them).</summary>
    private static IPAddress Group(int index) => new([239, 255, (byte)((index + 1) >> 8), (byte)(index + 1)]);

    /// <summary>How many of the sockets' groups the kernel lists as joined on <paramref name="iface"/>.</summary>
    private static int JoinedGroups(int n, string iface)
    {
        int index = (int)if_nametoindex(iface);
        var groups = Enumerable.Range(0, n).Select(Group).ToHashSet();
        return KernelMulticastTables.Igmp().Count(r => r.InterfaceIndex == index && groups.Contains(r.Group));
    }

    /// <summary>User + system time of the whole process, to the microsecond (getrusage(RUSAGE_SELF)).</summary>
    private static TimeSpan CpuTime()
    {
        // struct rusage starts with ru_utime and ru_stime (struct timeval: seconds, microseconds);
        // 14 more longs follow.
        long[] usage = new long[18];
        if (getrusage(0, usage) != 0) throw new InvalidOperationException($"getrusage(RUSAGE_SELF) failed: errno {Marshal.GetLastPInvokeError()}");
        return TimeSpan.FromMicroseconds((usage[0] + usage[2]) * 1_000_000 + usage[1] + usage[3]);
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

    [DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, [Out] long[] usage);

    [DllImport("libc", SetLastError = true)]
    private static extern uint if_nametoindex(string name);
}
