using System.Text.RegularExpressions;

namespace Dgram.Bench.Run;

/// <summary>Receive ceilings: each path swept in a process of its own; CPU per datagram at one common rate.</summary>
internal sealed partial class Bench
{
    /// <summary>
    /// The unicast receive paths: the quick set (every ratio key needs them) and the full set.
    /// <c>actor_rx_inline_dedicated</c> is <c>actor_rx_inline</c> on a read thread of its own
    /// (SocketSettings.DedicatedReadThread) instead of a shared engine thread.
    /// </summary>
    private static readonly string[] QuickUnicast = ["c_recvmmsg", "batched", "raw_sync", "akka_io", "actor_rx_inline", "actor_rx_inline_dedicated"],
        FullUnicast = ["c_recvmmsg", "c_recvfrom", "batched", "core_sync", "raw_sync", "raw_async", "akka_io", "actor_rx_inline", "actor_rx_inline_dedicated",
            "actor_rx_inline_owned", "actor_rx_buffered"];

    /// <summary>The unicast paths this run measures: the quick or full set, or those of it that <c>--paths</c> names.</summary>
    private string[] UnicastPaths => [.. (_quick ? QuickUnicast : FullUnicast).Where(Selected)];

    private bool Selected(string key) => _paths is null || _paths.Contains(key);

    private IEnumerable<RxCase> ReceiveCases() => AllReceiveCases(_quick).Where(c => Selected(c.Key));

    /// <summary>Refuses a <c>--paths</c> name that no receive measurement has (it would measure nothing, silently).</summary>
    private void CheckPaths()
    {
        string[] known = [.. AllReceiveCases(quick: false).Select(c => c.Key)];
        string[] unknown = [.. (_paths ?? []).Where(p => !known.Contains(p))];
        if (unknown.Length > 0) throw new ArgumentException($"--paths: unknown {string.Join(", ", unknown)}; known: {string.Join(", ", known)}");
    }

    private static IEnumerable<RxCase> AllReceiveCases(bool quick)
    {
        foreach (string p in quick ? QuickUnicast : FullUnicast) yield return new RxCase(p, p, Placement.Loopback);
        yield return new RxCase("raw_ssm", "raw_sync", Placement.Ssm4);
        yield return new RxCase("actor_rx_ssm", "actor_rx_inline", Placement.Ssm4);
        yield return new RxCase("raw_ssm6", "raw_sync", Placement.Ssm6);
        yield return new RxCase("actor_rx_ssm6", "actor_rx_inline", Placement.Ssm6);
        if (!quick)
        {
            yield return new RxCase("c_recvmmsg_ssm", "c_recvmmsg", Placement.Ssm4);
            yield return new RxCase("c_recvmmsg_ssm6", "c_recvmmsg", Placement.Ssm6);
        }
    }

    private async Task ReceiveAsync()
    {
        foreach (int size in Sizes)
        {
            foreach (RxCase c in ReceiveCases()) await Guarded($"{c.Key}_{size}", () => CeilingAsync(c, size, _reps));
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

    private async Task CeilingAsync(RxCase c, int size, int reps)
    {
        int port = ++_port;
        string key = $"{c.Key}_{size}";
        await using ChildProcess rx = await StartReceiverAsync(c, port);
        Line($"rcvbuf {key}={await EffectiveReceiveBufferAsync(port)}");
        var send = Pacer(c.Where, port, size);
        await Measure.StepAsync(rx, c.Fewest, send, 100_000, _sweepWarmSeconds); // warm-up: JIT tiers and pools settle
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
    }

    private static string CeilingLine(string kind, string key, List<Ceiling> ceilings)
    {
        var valid = ceilings.Where(x => !x.SenderLimited).ToList();
        string offered = $"sender offered at most {F(Spread.Of(ceilings.Select(x => x.MaxOffered))!.Median)}";
        if (valid.Count == 0) return $"{kind} {key}=sender_limited (lossless at {F(Spread.Of(ceilings.Select(x => x.Rate))!.Median)}, {offered})";
        string limited = valid.Count < ceilings.Count ? $"; {ceilings.Count - valid.Count} of {ceilings.Count} repetitions sender_limited" : "";
        return $"{kind} {key}={Spread.Of(valid.Select(x => x.Rate))!.Format("F0")}{limited}";
    }


    private async Task CpuAtRateAsync()
    {
        foreach (int size in Sizes)
        {
            // The common rate: 60 % of the lowest receive ceiling at this size. At 80 % a full run lost more than
            // 0.1 % on five paths: a ceiling is the best of noisy steps, not a rate held for seconds.
            var lowest = _ceilings.Where(kv => kv.Key.EndsWith($"_{size}", StringComparison.Ordinal) && !kv.Key.StartsWith("aggregate", StringComparison.Ordinal))
                .Select(kv => Spread.Of(kv.Value.Select(x => x.Rate))!.Median).Where(r => r > 0).DefaultIfEmpty(50_000).Min();
            double rate = Math.Floor(lowest * 0.6 / 1000) * 1000;
            Line($"# cpu_at_rate: {F(rate)} datagrams/s of {size} B offered to each path ({_reps} x {_cpuSeconds} s); core_at_rate: core {ReceiverCore}'s busy time, kernel receive work included");
            foreach (string path in UnicastPaths) await Guarded($"{path}_{size}", () => CpuAtRateAsync(path, size, rate));
        }
    }

    private async Task CpuAtRateAsync(string path, int size, double rate)
    {
        var c = new RxCase(path, path, Placement.Loopback);
        int port = ++_port;
        string key = $"{path}_{size}";
        await using ChildProcess rx = await StartReceiverAsync(c, port);
        var send = Pacer(c.Where, port, size);
        await Measure.StepAsync(rx, false, send, rate, _warmSeconds);
        var steps = new List<Step>();
        for (int rep = 0; rep < _reps; rep++) steps.Add(await Measure.StepAsync(rx, false, send, rate, _cpuSeconds));
        _figures[$"cpu_{key}"] = steps.Select(s => (s.CpuUsPerDatagram, s.Lossless)).ToList();
        _figures[$"core_{key}"] = steps.Select(s => (s.CoreUsPerDatagram, s.Lossless)).ToList();
        string lossy = steps.All(s => s.Lossless) ? "" : $" lossy in {steps.Count(s => !s.Lossless)} of {steps.Count} (loss up to {steps.Max(s => s.Loss):P2})";
        Line($"cpu_at_rate {key}={Spread.Of(steps.Select(s => s.CpuUsPerDatagram))!.Format("F3")}{lossy}");
        Line($"core_at_rate {key}={Spread.Of(steps.Select(s => s.CoreUsPerDatagram))!.Format("F3")}");
        if (!path.StartsWith("c_", StringComparison.Ordinal))
        {
            Line($"alloc_per_datagram {key}={Spread.Of(steps.Select(s => s.AllocPerDatagram))!.Format("F1")}");
            Line($"gen0_per_100k {key}={Spread.Of(steps.Select(s => s.Gen0Per100k))!.Format("F1")}");
        }
    }
}
