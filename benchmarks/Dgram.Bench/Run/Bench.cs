using System.Globalization;
using System.Text.RegularExpressions;

namespace Dgram.Bench.Run;

/// <summary>
/// Where a sweep's traffic goes: what the receiver binds and joins, and where the C sender sends from.
/// Unicast stays on lo; multicast crosses the lab's veth pair (out of lab0b, loop off, into lab0a).
/// </summary>
internal sealed record Placement(string Name, string Bind, string? Group, string? Source, string? ReceiveInterface,
    string? SendSource, string? SendInterface, int Destinations = 1)
{
    public static readonly Placement Loopback = new("lo", "127.0.0.1", null, null, null, null, null);
    public static readonly Placement Ssm4 = new("ssm", "232.0.13.1", "232.0.13.1", "198.51.100.2", "lab0a", "198.51.100.2", "lab0b");
    public static readonly Placement Ssm6 = new("ssm6", "ff35::d9a:13", "ff35::d9a:13", "fd00:d9a::2", "lab0a", "fd00:d9a::2", "lab0b");
    public static readonly Placement FanOut = new("fanout", "239.255.77.1", "239.255.77.1", null, "lab0a", "198.51.100.2", "lab0b");
    public static readonly Placement Aggregate = new("aggregate", "239.255.100.1", "239.255.100.1", null, "lab0a", "198.51.100.2", "lab0b", 100);
}

/// <summary>One receive measurement: a path (C <c>c_*</c> or a managed path), where, and on how many sockets.</summary>
internal sealed record RxCase(string Key, string Path, Placement Where, int Sockets = 1, bool Distinct = false, bool Fewest = false);

/// <summary>
/// The benchmark run: every figure from processes of their own, the C sender pinned to core 0 and the
/// process under test to core 1; prints one line per figure to stdout (progress to stderr).
/// </summary>
internal sealed class Bench
{
    private const int SenderCore = 0, ReceiverCore = 1;
    private const int ReceiveBuffer = 4 << 20;
    private static readonly int[] Sizes = [64, 1400];

    public static string NativeDirectory { get; private set; } = "benchmarks/native/bin";

    private readonly bool _quick;
    private readonly int _reps;
    private readonly double _stepSeconds, _cpuSeconds, _warmSeconds, _precision;
    private int _port = 30000;
    private readonly Dictionary<string, List<Ceiling>> _ceilings = [];
    private readonly Dictionary<string, List<double>> _figures = [];

    private Bench(bool quick, int reps)
    {
        _quick = quick;
        _reps = reps;
        _stepSeconds = quick ? 0.3 : 1.0;
        _cpuSeconds = quick ? 0.5 : 2.0;
        // Long enough for tiered compilation to settle: measured, 1 s of traffic still left methods at tier 0.
        _warmSeconds = quick ? 1.0 : 3.0;
        _precision = quick ? 1.15 : 1.05;
    }

    public const string Usage = "run [--quick] [--reps N] [--native DIR] [--only receive,cpu,send,rtt,fanout,scale]";

    public static async Task<int> RunAsync(string[] args)
    {
        var o = new Options(args, "--quick");
        bool quick = o.Flag("--quick");
        var bench = new Bench(quick, o.Int("--reps", 3));
        NativeDirectory = o.Get("--native") ?? NativeDirectory;
        string[] only = (o.Get("--only") ?? "receive,cpu,send,rtt,fanout,scale").Split(',');
        o.End();
        if (bench._reps < 3) Console.Error.WriteLine("bench: fewer than 3 repetitions; ratios need at least 3 and are not printed");
        Line($"# ./bench.sh{(quick ? " --quick" : "")}: {DateTime.UtcNow:yyyy-MM-dd HH:mm}Z, cores {File.ReadAllText("/sys/devices/system/cpu/online").Trim()}, {Environment.OSVersion}, .NET {Environment.Version}");
        Line($"# C sender (pace, UDP GSO, 64 per call) pinned to core {SenderCore}, the process under test to core {ReceiverCore}; " +
             $"{bench._reps} repetitions; steps of {bench._stepSeconds} s; lossless = loss <= {Step.LossLimit:P1}; SO_RCVBUF asked {ReceiveBuffer} for every path");
        Line($"# receive steering (RPS) cpu mask on lo: {Steering("lo")}, lab0a: {Steering("lab0a")} (2 = core 1: the kernel's receive work runs on the receiver's core)");
        if (only.Contains("receive")) await bench.ReceiveAsync();
        if (only.Contains("cpu")) await bench.CpuAtRateAsync();
        if (only.Contains("send")) await bench.SendAsync();
        if (only.Contains("rtt")) await bench.RoundTripsAsync();
        if (only.Contains("fanout")) await bench.FanOutAsync();
        if (only.Contains("scale")) await bench.ScaleAsync();
        bench.Ratios();
        return 0;
    }

    private static void Line(string text) => Console.WriteLine(text);

    private static string Steering(string device)
    {
        string path = $"/sys/class/net/{device}/queues/rx-0/rps_cpus";
        return File.Exists(path) ? File.ReadAllText(path).Trim() : "unknown (no sysfs for this namespace)";
    }

    private static void Progress(string text) => Console.Error.WriteLine(text);

    private static string F(double v, string format = "F0") => v.ToString(format, CultureInfo.InvariantCulture);

    // ---- receive ceilings ----

    private IEnumerable<RxCase> ReceiveCases()
    {
        string[] unicast = _quick
            ? ["c_recvmmsg", "batched", "raw_sync", "akka_io", "actor_rx_inline"]
            : ["c_recvmmsg", "c_recvfrom", "batched", "core_sync", "raw_sync", "raw_async", "akka_io", "actor_rx_inline", "actor_rx_inline_owned", "actor_rx_buffered"];
        foreach (string p in unicast) yield return new RxCase(p, p, Placement.Loopback);
        yield return new RxCase("raw_ssm", "raw_sync", Placement.Ssm4);
        yield return new RxCase("actor_rx_ssm", "actor_rx_inline", Placement.Ssm4);
        yield return new RxCase("raw_ssm6", "raw_sync", Placement.Ssm6);
        yield return new RxCase("actor_rx_ssm6", "actor_rx_inline", Placement.Ssm6);
        if (!_quick)
        {
            yield return new RxCase("c_recvmmsg_ssm", "c_recvmmsg", Placement.Ssm4);
            yield return new RxCase("c_recvmmsg_ssm6", "c_recvmmsg", Placement.Ssm6);
        }
    }

    private async Task ReceiveAsync()
    {
        foreach (int size in Sizes)
        {
            foreach (RxCase c in ReceiveCases()) await CeilingAsync(c, size, _reps);
        }
    }

    private async Task<ChildProcess> StartReceiverAsync(RxCase c, int port)
    {
        var where = new List<string> { "--bind", c.Where.Bind, "--port", F(port), "--rcvbuf", F(ReceiveBuffer) };
        if (c.Where.Group is not null) where.AddRange(["--group", c.Where.Group, "--iface", c.Where.ReceiveInterface!]);
        if (c.Where.Source is not null) where.AddRange(["--source", c.Where.Source]);
        ChildProcess child;
        if (c.Path.StartsWith("c_", StringComparison.Ordinal))
        {
            child = ChildProcess.Native(ReceiverCore, "sink", ["--mode", c.Path[2..], .. where]);
        }
        else
        {
            var args = new List<string> { "--path", c.Path };
            args.AddRange(where);
            if (c.Sockets > 1) args.AddRange(["--sockets", F(c.Sockets)]);
            if (c.Distinct) args.Add("--distinct");
            child = ChildProcess.Managed(ReceiverCore, "receive", args);
        }
        await child.ReadyAsync();
        return child;
    }

    /// <summary>The C pacer pinned to the sender's core, sending as the placement says; returns its line.</summary>
    private static Func<double, double, Task<Fields>> Pacer(Placement where, int port, int size, string mode = "gso", double tickUs = 0) => async (rate, seconds) =>
    {
        var args = new List<string> { "--dest", where.Group ?? where.Bind, "--port", F(port), "--size", F(size), "--seconds", F(seconds, "F3"), "--rate", F(rate), "--mode", mode };
        if (where.SendSource is not null) args.AddRange(["--source", where.SendSource]);
        if (where.SendInterface is not null) args.AddRange(["--iface", where.SendInterface]);
        if (where.Destinations > 1) args.AddRange(["--dests", F(where.Destinations)]);
        if (tickUs > 0 && rate > 0) args.AddRange(["--tick-us", F(tickUs)]);
        await using ChildProcess pace = ChildProcess.Native(SenderCore, "pace", args);
        return Fields.Parse(await pace.OutputAsync());
    };

    /// <summary>The receive buffer the kernel gave the socket(s) on <paramref name="port"/> (ss's skmem rb).</summary>
    private static async Task<string> EffectiveReceiveBufferAsync(int port)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("ss", ["-uamnH", $"sport = :{port}"]) { RedirectStandardOutput = true };
        using var ss = System.Diagnostics.Process.Start(psi)!;
        string output = await ss.StandardOutput.ReadToEndAsync();
        await ss.WaitForExitAsync();
        var sizes = Regex.Matches(output, @"\brb(\d+)").Select(m => m.Groups[1].Value).Distinct().ToArray();
        return sizes.Length == 0 ? "unknown" : string.Join("/", sizes);
    }

    private async Task<List<Ceiling>> CeilingAsync(RxCase c, int size, int reps)
    {
        int port = ++_port;
        string key = $"{c.Key}_{size}";
        await using ChildProcess rx = await StartReceiverAsync(c, port);
        Line($"rcvbuf {key}={await EffectiveReceiveBufferAsync(port)}");
        var send = Pacer(c.Where, port, size);
        await Measure.StepAsync(rx, c.Fewest, send, 100_000, _warmSeconds); // warm-up: JIT tiers and pools settle
        await SettleAsync(rx);
        var ceilings = new List<Ceiling>();
        double? hint = null;
        for (int rep = 0; rep < reps; rep++)
        {
            Ceiling ceiling = await Sweep.FindAsync(rate => Measure.StepAsync(rx, c.Fewest, send, rate, _stepSeconds), hint, _precision,
                s => Progress($"  {key} rep {rep}: asked {F(s.Requested)}/s, offered {F(s.Offered)}/s, got {s.Received:N0} of {s.Sent:N0} (loss {s.Loss:P2})"));
            ceilings.Add(ceiling);
            hint = ceiling.Rate;
            Progress($"{key} rep {rep}: ceiling {F(ceiling.Rate)}/s, sender offered at most {F(ceiling.MaxOffered)}/s{(ceiling.SenderLimited ? " (sender-limited)" : "")}");
        }
        _ceilings[key] = ceilings;
        Line(CeilingLine("ceiling", key, ceilings));
        return ceilings;
    }

    private static string CeilingLine(string kind, string key, List<Ceiling> ceilings)
    {
        var valid = ceilings.Where(x => !x.SenderLimited).ToList();
        string offered = $"sender offered at most {F(Spread.Of(ceilings.Select(x => x.MaxOffered))!.Median)}";
        if (valid.Count == 0) return $"{kind} {key}=sender_limited (lossless at {F(Spread.Of(ceilings.Select(x => x.Rate))!.Median)}, {offered})";
        string limited = valid.Count < ceilings.Count ? $"; {ceilings.Count - valid.Count} of {ceilings.Count} repetitions sender_limited" : "";
        return $"{kind} {key}={Spread.Of(valid.Select(x => x.Rate))!.Format("F0")}{limited}";
    }

    // ---- CPU per datagram at one common rate ----

    private async Task CpuAtRateAsync()
    {
        foreach (int size in Sizes)
        {
            // The common rate: 80 % of the lowest receive ceiling at this size, so every path sustains it.
            var lowest = _ceilings.Where(kv => kv.Key.EndsWith($"_{size}", StringComparison.Ordinal) && !kv.Key.StartsWith("aggregate", StringComparison.Ordinal))
                .Select(kv => Spread.Of(kv.Value.Select(x => x.Rate))!.Median).Where(r => r > 0).DefaultIfEmpty(50_000).Min();
            double rate = Math.Floor(lowest * 0.8 / 1000) * 1000;
            Line($"# cpu_at_rate: {F(rate)} datagrams/s of {size} B offered to each path ({_reps} x {_cpuSeconds} s)");
            string[] paths = _quick
                ? ["c_recvmmsg", "batched", "raw_sync", "akka_io", "actor_rx_inline"]
                : ["c_recvmmsg", "c_recvfrom", "batched", "core_sync", "raw_sync", "raw_async", "akka_io", "actor_rx_inline", "actor_rx_inline_owned", "actor_rx_buffered"];
            foreach (string path in paths)
            {
                var c = new RxCase(path, path, Placement.Loopback);
                int port = ++_port;
                string key = $"{path}_{size}";
                await using ChildProcess rx = await StartReceiverAsync(c, port);
                var send = Pacer(c.Where, port, size);
                await Measure.StepAsync(rx, false, send, rate, _warmSeconds);
                var steps = new List<Step>();
                for (int rep = 0; rep < _reps; rep++) steps.Add(await Measure.StepAsync(rx, false, send, rate, _cpuSeconds));
                _figures[$"cpu_{key}"] = steps.Select(s => s.CpuUsPerDatagram).ToList();
                string lossy = steps.All(s => s.Lossless) ? "" : $" lossy (loss up to {steps.Max(s => s.Loss):P2})";
                Line($"cpu_at_rate {key}={Spread.Of(steps.Select(s => s.CpuUsPerDatagram))!.Format("F3")}{lossy}");
                if (!path.StartsWith("c_", StringComparison.Ordinal))
                {
                    Line($"alloc_per_datagram {key}={Spread.Of(steps.Select(s => s.AllocPerDatagram))!.Format("F1")}");
                    Line($"gen0_per_100k {key}={Spread.Of(steps.Select(s => s.Gen0Per100k))!.Format("F1")}");
                }
            }
        }
    }

    // ---- sends ----

    private async Task SendAsync()
    {
        string[] paths = _quick
            ? ["c_sendmmsg", "c_gso", "actor_send_many", "actor_send_queued"]
            : ["c_sendto", "c_sendmmsg", "c_gso", "raw_sendto", "core_send_batched", "core_send_gso", "actor_send_many", "actor_send_queued"];
        foreach (int size in Sizes)
        {
            int port = ++_port;
            var sinkCase = new RxCase("c_recvmmsg", "c_recvmmsg", Placement.Loopback);
            await using ChildProcess sink = await StartReceiverAsync(sinkCase, port);
            double sinkCeiling = _ceilings.TryGetValue($"c_recvmmsg_{size}", out var cs) ? Spread.Of(cs.Select(x => x.Rate))!.Median : 200_000;
            double rate = Math.Min(100_000, Math.Floor(sinkCeiling * 0.5 / 1000) * 1000);
            Line($"# cpu_send: {F(rate)} datagrams/s of {size} B from each path into a C recvmmsg sink on lo, sender woken every 1 ms ({_reps} x {_cpuSeconds} s)");
            foreach (string path in paths)
            {
                string key = $"{path}_{size}";
                ChildProcess? child = null;
                Func<double, double, Task<Fields>> send;
                if (path.StartsWith("c_", StringComparison.Ordinal))
                {
                    send = Pacer(Placement.Loopback, port, size, path[2..], tickUs: 1000);
                }
                else
                {
                    child = ChildProcess.Managed(SenderCore, "send", ["--path", path, "--dest", "127.0.0.1", "--port", F(port), "--size", F(size)]);
                    await child.ReadyAsync();
                    ChildProcess c = child;
                    send = (r, s) => c.AskAsync($"run {F(r)} {F(s, "F3")}");
                    await send(rate, _warmSeconds); // warm-up at the rate measured: JIT tiers settle
                }
                await SettleAsync(sink);
                var steps = new List<Step>();
                for (int rep = 0; rep < _reps; rep++) steps.Add(await Measure.StepAsync(sink, false, send, rate, _cpuSeconds));
                Step max = await Measure.StepAsync(sink, false, send, 0, _cpuSeconds);
                if (child is not null) await child.DisposeAsync();
                _figures[$"cpu_send_{key}"] = steps.Select(s => s.SenderCpuUsPerDatagram).ToList();
                string flaw = steps.All(s => s.Lossless && s.Offered >= 0.97 * rate) ? ""
                    : $" (not clean: offered down to {F(steps.Min(s => s.Offered))}/s, sink loss up to {steps.Max(s => s.Loss):P2})";
                Line($"cpu_send {key}={Spread.Of(steps.Select(s => s.SenderCpuUsPerDatagram))!.Format("F3")}{flaw}");
                Line($"send_max {key}={F(max.Offered)} (kernel accepted; the sink received {F(max.Received / (max.Sent / max.Offered))}/s)");
            }
        }
    }

    /// <summary>Waits until a receiver's count stops moving (datagrams from a warm-up drained).</summary>
    private static async Task SettleAsync(ChildProcess receiver)
    {
        double last = -1;
        for (int still = 0; still < 3;)
        {
            await Task.Delay(20);
            double count = (await receiver.AskAsync("mark"))["count"];
            still = count == last ? still + 1 : 0;
            last = count;
        }
    }

    // ---- round trips ----

    private async Task RoundTripsAsync()
    {
        int port = ++_port;
        await using ChildProcess echo = ChildProcess.Native(SenderCore, "sink", "--mode", "echo", "--bind", "127.0.0.1", "--port", F(port));
        await echo.ReadyAsync();
        Line($"# round trips: 32 B ping-pongs against a C echo pinned to core {SenderCore}, {(_quick ? 5_000 : 20_000)} per repetition after 1,000 unmeasured");
        foreach (string path in Child.RttChild.Descriptions.Keys)
        {
            await using ChildProcess rtt = ChildProcess.Managed(ReceiverCore, "rtt", "--path", path, "--dest", "127.0.0.1", "--port", F(port),
                "--count", F(_quick ? 5_000 : 20_000), "--reps", F(_reps));
            var reps = (await rtt.OutputAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Fields.Parse).ToList();
            _figures[$"rtt_p99_{path}"] = reps.Select(r => r["p99"]).ToList();
            Line($"rtt_p50_us {path}={Spread.Of(reps.Select(r => r["p50"]))!.Format("F1")}");
            Line($"rtt_p99_us {path}={Spread.Of(reps.Select(r => r["p99"]))!.Format("F1")}");
        }
    }

    // ---- fan-out ----

    private async Task FanOutAsync()
    {
        Line("# fan-out: one group (239.255.77.1) joined by N sockets on lab0a, the C sender out of lab0b; the rate is per receiver, lossless on every one");
        foreach (int n in new[] { 8, 64 })
        {
            foreach (string path in new[] { "actor_rx_inline", "raw_sync" })
            {
                var c = new RxCase($"fanout_{path}_{n}", path, Placement.FanOut, n, Fewest: true);
                await CeilingAsync(c, 64, _quick ? 1 : _reps);
            }
        }
    }

    // ---- scale ----

    private async Task ScaleAsync()
    {
        Line("# scale: N socket actors, each joined to its own group on lab0a; idle over 5 s with no traffic (process not pinned)");
        foreach (int n in new[] { 0, 1, 100, 1000 })
        {
            int port = _port + 1;
            _port += Math.Max(n, 1);
            await using ChildProcess scale = ChildProcess.Managed(null, "scale", "--sockets", F(n), "--iface", "lab0a", "--port", F(port));
            foreach (string line in (await scale.OutputAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries)) Line(line);
        }
        var aggregate = new RxCase("aggregate_actor_rx_inline_100", "actor_rx_inline", Placement.Aggregate, 100, Distinct: true);
        Line("# aggregate: 100 socket actors in one process, each on its own group and port, the C sender round-robin over the 100");
        await CeilingAsync(aggregate, 64, _quick ? 1 : _reps);
        _port += 100;
    }

    // ---- ratios ----

    private void Ratios()
    {
        if (_reps < 3) return;
        foreach (int size in Sizes)
        {
            CeilingRatio("ceiling_actor_rx_inline_vs_raw_sync", "actor_rx_inline", "raw_sync", size);
            CeilingRatio("ceiling_actor_rx_inline_vs_akka_io", "actor_rx_inline", "akka_io", size);
            CeilingRatio("ceiling_batched_vs_c_recvmmsg", "batched", "c_recvmmsg", size);
            CeilingRatio("ceiling_actor_rx_ssm_vs_raw_ssm", "actor_rx_ssm", "raw_ssm", size);
            CeilingRatio("ceiling_actor_rx_ssm6_vs_raw_ssm6", "actor_rx_ssm6", "raw_ssm6", size);
            FigureRatio($"cpu_actor_rx_inline_vs_c_recvmmsg_{size}", $"cpu_actor_rx_inline_{size}", $"cpu_c_recvmmsg_{size}");
            FigureRatio($"cpu_actor_rx_inline_vs_raw_sync_{size}", $"cpu_actor_rx_inline_{size}", $"cpu_raw_sync_{size}");
            FigureRatio($"cpu_send_actor_send_many_vs_c_gso_{size}", $"cpu_send_actor_send_many_{size}", $"cpu_send_c_gso_{size}");
            FigureRatio($"cpu_send_actor_send_queued_vs_c_sendmmsg_{size}", $"cpu_send_actor_send_queued_{size}", $"cpu_send_c_sendmmsg_{size}");
        }
        FigureRatio("rtt_p99_actor_vs_raw_async", "rtt_p99_actor", "rtt_p99_raw_async");
        FigureRatio("rtt_p99_actor_tell_vs_raw_async", "rtt_p99_actor_tell", "rtt_p99_raw_async");
    }

    /// <summary>Per repetition A / B, then the median and spread; a sender-limited repetition gives no ratio.</summary>
    private void CeilingRatio(string name, string a, string b, int size)
    {
        if (!_ceilings.TryGetValue($"{a}_{size}", out var x) || !_ceilings.TryGetValue($"{b}_{size}", out var y)) return;
        var pairs = x.Zip(y).Where(p => !p.First.SenderLimited && !p.Second.SenderLimited && p.Second.Rate > 0).Select(p => p.First.Rate / p.Second.Rate).ToList();
        string limited = string.Join(", ", new[] { (a, x), (b, y) }.Where(t => t.Item2.Any(c => c.SenderLimited)).Select(t => $"{t.Item1}_{size}"));
        if (pairs.Count < 3) Line($"ratio {name}_{size}=sender_limited ({limited})");
        else Line($"ratio {name}_{size}={Spread.Of(pairs)!.Format("F2")}" + (limited.Length > 0 ? $" ({pairs.Count} clean repetitions; sender_limited in others: {limited})" : ""));
    }

    private void FigureRatio(string name, string a, string b)
    {
        if (!_figures.TryGetValue(a, out var x) || !_figures.TryGetValue(b, out var y)) return;
        Line($"ratio {name}={Spread.Of(x.Zip(y).Select(p => p.First / p.Second))!.Format("F2")}");
    }
}
