using System.Globalization;

namespace Dgram.Bench.Run;

/// <summary>
/// Where a sweep's traffic goes: what the receiver binds and joins, and where the C sender sends from.
/// Unicast stays on lo; multicast crosses the lab's veth pair (out of lab0b, loop off, into lab0a).
/// </summary>
internal sealed record Placement(string Bind, string? Group, string? Source, string? ReceiveInterface,
    string? SendSource, string? SendInterface, int Destinations = 1)
{
    public static readonly Placement Loopback = new("127.0.0.1", null, null, null, null, null);
    public static readonly Placement Ssm4 = new("232.0.13.1", "232.0.13.1", "198.51.100.2", "lab0a", "198.51.100.2", "lab0b");
    public static readonly Placement Ssm6 = new("ff35::d9a:13", "ff35::d9a:13", "fd00:d9a::2", "lab0a", "fd00:d9a::2", "lab0b");
    public static readonly Placement FanOut = new("239.255.77.1", "239.255.77.1", null, "lab0a", "198.51.100.2", "lab0b");
    public static readonly Placement Aggregate = new("239.255.100.1", "239.255.100.1", null, "lab0a", "198.51.100.2", "lab0b", 100);
}

/// <summary>One receive measurement: a path (C <c>c_*</c> or a managed path), where, and on how many sockets.</summary>
internal sealed record RxCase(string Key, string Path, Placement Where, int Sockets = 1, bool Distinct = false, bool Fewest = false);

/// <summary>
/// The benchmark run: every figure from processes of their own, the C sender pinned to core 0 and the
/// process under test to core 1; prints one line per figure to stdout (progress to stderr).
/// </summary>
internal sealed partial class Bench
{
    internal const int SenderCore = 0, ReceiverCore = 1;
    private const int ReceiveBuffer = 4 << 20;

    public static string NativeDirectory { get; private set; } = "benchmarks/native/bin";

    private readonly bool _quick;
    private readonly int _reps;
    /// <summary>Datagram sizes measured (<c>--sizes</c>; 64 and 1,400 B).</summary>
    private int[] Sizes { get; }
    /// <summary>The receive paths measured when <c>--paths</c> names some (receive and cpu only); null: every path.</summary>
    private readonly string[]? _paths;
    private readonly double _stepSeconds, _cpuSeconds, _warmSeconds, _sweepWarmSeconds, _precision;
    private int _port = 30000;
    private readonly Dictionary<string, List<Ceiling>> _ceilings = [];
    /// <summary>Per-repetition figures for ratios; a repetition that was not clean (lossy, short of its rate) gives none.</summary>
    private readonly Dictionary<string, List<(double Value, bool Clean)>> _figures = [];

    private Bench(bool quick, int reps, int[] sizes, string[]? paths)
    {
        _quick = quick;
        _reps = reps;
        Sizes = sizes;
        _paths = paths;
        _stepSeconds = quick ? 0.3 : 1.0;
        _cpuSeconds = quick ? 0.5 : 2.0;
        // Long enough for tiered compilation to settle: measured, 1 s of traffic still left methods at tier 0.
        _warmSeconds = quick ? 1.0 : 3.0;
        _sweepWarmSeconds = quick ? 0.5 : 3.0; // quick: a sweep's first steps finish warming it (5 minutes in all)
        _precision = quick ? 1.25 : 1.05;
    }

    public const string Usage = "run [--quick] [--reps N] [--native DIR] [--only receive,cpu,send,rtt,fanout,scale,recovery] [--paths P,...] [--sizes 64,1400]";

    public static async Task<int> RunAsync(string[] args)
    {
        var o = new Options(args, "--quick");
        bool quick = o.Flag("--quick");
        int[] sizes = [.. (o.Get("--sizes") ?? "64,1400").Split(',').Select(x => int.TryParse(x, NumberStyles.None, CultureInfo.InvariantCulture, out int size)
            && size is >= 16 and <= 1472 ? size : throw new ArgumentException($"--sizes: '{x}' is not a datagram size from 16 to 1472"))];
        string[]? paths = o.Get("--paths")?.Split(',');
        var bench = new Bench(quick, o.Int("--reps", 3), sizes, paths);
        bench.CheckPaths();
        NativeDirectory = o.Get("--native") ?? NativeDirectory;
        string[] only = (o.Get("--only") ?? "receive,cpu,send,rtt,fanout,scale,recovery").Split(',');
        o.End();
        if (bench._reps < 3) Console.Error.WriteLine("bench: fewer than 3 repetitions; ratios need at least 3 and are not printed");
        Line($"# ./bench.sh{(quick ? " --quick" : "")}: {DateTime.UtcNow:yyyy-MM-dd HH:mm}Z, cores {File.ReadAllText("/sys/devices/system/cpu/online").Trim()}, {Environment.OSVersion}, .NET {Environment.Version}");
        Line($"# C sender (pace, UDP GSO, 64 per call) pinned to core {SenderCore}, the process under test to core {ReceiverCore}; " +
             $"{bench._reps} repetitions; steps of {bench._stepSeconds} s; lossless = loss <= {Step.LossLimit:P1}; SO_RCVBUF asked {ReceiveBuffer} for every path");
        Line($"# receive steering (RPS) cpu mask on lo: {Steering("lo")}, lab0a: {Steering("lab0a")} (2 = core 1: the kernel's receive work runs on the receiver's core)");
        // Runtime settings change what is measured (DOTNET_ThreadPool_UnfairSemaphoreSpinLimit, say): name them.
        string[] settings = Environment.GetEnvironmentVariables().Keys.Cast<string>()
            .Where(k => k.StartsWith("DOTNET_", StringComparison.Ordinal) && k is not ("DOTNET_CLI_TELEMETRY_OPTOUT" or "DOTNET_NOLOGO" or "DOTNET_SKIP_FIRST_TIME_EXPERIENCE"))
            .Order().Select(k => $"{k}={Environment.GetEnvironmentVariable(k)}").ToArray();
        if (paths is not null || sizes.Length != 2) Line($"# only: receive paths {(paths is null ? "all" : string.Join(",", paths))}, sizes {string.Join(",", sizes)} (cpu_at_rate's common rate follows the ceilings measured)");
        Line($"# runtime settings: {(settings.Length == 0 ? "defaults" : string.Join(' ', settings))}{(Environment.GetEnvironmentVariable("BENCH_AKKA_CONFIG") is { } akka ? $"; BENCH_AKKA_CONFIG={akka}" : "")}");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (only.Contains("receive")) await bench.ReceiveAsync();
        if (only.Contains("cpu")) await bench.CpuAtRateAsync();
        if (only.Contains("send")) await bench.SendAsync();
        if (only.Contains("rtt")) await bench.RoundTripsAsync();
        if (only.Contains("fanout")) await bench.FanOutAsync();
        if (only.Contains("scale")) await bench.ScaleAsync();
        if (only.Contains("recovery")) await bench.RecoveryAsync();
        bench.Ratios();
        Line($"# elapsed: {clock.Elapsed.TotalSeconds:F0} s (after the build)");
        return 0;
    }

    private static void Line(string text) => Console.WriteLine(text);

    private static string Steering(string device)
    {
        string path = $"/sys/class/net/{device}/queues/rx-0/rps_cpus";
        return File.Exists(path) ? File.ReadAllText(path).Trim() : "unknown (no sysfs for this namespace)";
    }

    private static void Progress(string text) => Console.Error.WriteLine(text);

    /// <summary>Runs one path's measurement; a failure (a child that died or hung) is printed and the run goes on.</summary>
    private static async Task Guarded(string key, Func<Task> measure)
    {
        try
        {
            await measure();
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException)
        {
            Line($"failed {key}: {e.Message}");
        }
    }

    /// <summary>
    /// One goal of the issue the figure answers: <c>goal KEY=VALUE (goal &lt;= LIMIT[, NOTE]): met</c> or <c>missed</c>;
    /// <paramref name="atLeast"/> turns the comparison around (<c>&gt;=</c>). NaN: measured, but no figure came of
    /// it (<c>KEY=n/a …: unknown</c>; the ratio line above says why).
    /// </summary>
    private static void Goal(string key, double value, string format, double limit, bool atLeast = false, string? note = null)
    {
        string verdict = double.IsNaN(value) ? "unknown" : (atLeast ? value >= limit : value <= limit) ? "met" : "missed";
        Line($"goal {key}={(double.IsNaN(value) ? "n/a" : F(value, format))} (goal {(atLeast ? ">=" : "<=")} {F(limit, format)}{(note is null ? "" : ", " + note)}): {verdict}");
    }

    private static string F(double v, string format = "F0") => v.ToString(format, CultureInfo.InvariantCulture);
}
