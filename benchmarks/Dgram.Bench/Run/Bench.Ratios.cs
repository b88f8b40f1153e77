namespace Dgram.Bench.Run;

/// <summary>Ratios: per repetition, then the median and its spread.</summary>
internal sealed partial class Bench
{
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
            FigureRatio($"core_actor_rx_inline_vs_c_recvmmsg_{size}", $"core_actor_rx_inline_{size}", $"core_c_recvmmsg_{size}");
            FigureRatio($"cpu_send_actor_send_many_vs_c_gso_{size}", $"cpu_send_actor_send_many_{size}", $"cpu_send_c_gso_{size}");
            FigureRatio($"cpu_send_actor_send_queued_vs_c_sendmmsg_{size}", $"cpu_send_actor_send_queued_{size}", $"cpu_send_c_sendmmsg_{size}");
            EngineVsDedicated(size);
        }
        FigureRatio("rtt_p99_actor_vs_raw_async", "rtt_p99_actor", "rtt_p99_raw_async");
        FigureRatio("rtt_p99_actor_tell_vs_raw_async", "rtt_p99_actor_tell", "rtt_p99_raw_async");
    }

    /// <summary>
    /// Issue 14's goal: one socket through the shared engine does at least 0.95× what it does on a read thread
    /// of its own. Ceilings: engine / dedicated. CPU: dedicated / engine (datagrams per CPU second, engine over
    /// dedicated), so that the same "at least 0.95" reads the same way for both.
    /// </summary>
    private void EngineVsDedicated(int size)
    {
        Spread? ceiling = CeilingRatio("ceiling_engine_vs_dedicated_actor_rx_inline", "actor_rx_inline", "actor_rx_inline_dedicated", size);
        if (_ceilings.ContainsKey($"actor_rx_inline_{size}") && _ceilings.ContainsKey($"actor_rx_inline_dedicated_{size}"))
        {
            Goal($"ceiling_engine_vs_dedicated_actor_rx_inline_{size}", ceiling?.Median ?? double.NaN, "F2", 0.95, atLeast: true);
        }
        Spread? cpu = FigureRatio($"cpu_engine_vs_dedicated_actor_rx_inline_{size}", $"cpu_actor_rx_inline_dedicated_{size}", $"cpu_actor_rx_inline_{size}");
        if (_figures.ContainsKey($"cpu_actor_rx_inline_{size}") && _figures.ContainsKey($"cpu_actor_rx_inline_dedicated_{size}"))
        {
            Goal($"cpu_engine_vs_dedicated_actor_rx_inline_{size}", cpu?.Median ?? double.NaN, "F2", 0.95, atLeast: true, note: "dedicated CPU per datagram / engine CPU per datagram");
        }
    }

    /// <summary>Per repetition A / B, then the median and spread; a sender-limited repetition gives no ratio. Returns the spread printed, if any.</summary>
    private Spread? CeilingRatio(string name, string a, string b, int size)
    {
        if (!_ceilings.TryGetValue($"{a}_{size}", out var x) || !_ceilings.TryGetValue($"{b}_{size}", out var y)) return null;
        var pairs = x.Zip(y).Where(p => !p.First.SenderLimited && !p.Second.SenderLimited && p.Second.Rate > 0).Select(p => p.First.Rate / p.Second.Rate).ToList();
        string limited = string.Join(", ", new[] { (a, x), (b, y) }.Where(t => t.Item2.Any(c => c.SenderLimited)).Select(t => $"{t.Item1}_{size}"));
        if (pairs.Count < 3)
        {
            Line($"ratio {name}_{size}=" + (limited.Length > 0 ? $"sender_limited ({limited})" : "n/a (a ceiling of 0)"));
            return null;
        }
        Spread spread = Spread.Of(pairs)!;
        Line($"ratio {name}_{size}={spread.Format("F2")}" + (limited.Length > 0 ? $" ({pairs.Count} clean repetitions; sender_limited in others: {limited})" : ""));
        return spread;
    }

    /// <summary>Per repetition A / B over repetitions clean on both sides (at least 3), then the median and spread. Returns the spread printed, if any.</summary>
    private Spread? FigureRatio(string name, string a, string b)
    {
        if (!_figures.TryGetValue(a, out var x) || !_figures.TryGetValue(b, out var y)) return null;
        var pairs = x.Zip(y).Where(p => p.First.Clean && p.Second.Clean).Select(p => p.First.Value / p.Second.Value).ToList();
        Spread? spread = pairs.Count >= 3 ? Spread.Of(pairs) : null;
        Line(spread is not null
            ? $"ratio {name}={spread.Format("F2")}"
            : $"ratio {name}=n/a (only {pairs.Count} repetitions clean on both sides: {a}, {b})");
        return spread;
    }
}
