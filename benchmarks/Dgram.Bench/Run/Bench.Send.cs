namespace Dgram.Bench.Run;

/// <summary>Send CPU at a fixed rate into a C sink that confirms every datagram, and the kernel-accepted maximum.</summary>
internal sealed partial class Bench
{
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
            Line($"# cpu_send: {F(rate)} datagrams/s of {size} B from each path into a C recvmmsg sink on lo (its own ceiling: " +
                 $"{(cs is null ? "not measured" : F(sinkCeiling) + "/s")}), sender woken every 1 ms ({_reps} x {_cpuSeconds} s)");
            foreach (string path in paths) await Guarded($"{path}_{size}", () => SendPathAsync(path, size, port, sink, rate));
        }
    }

    private async Task SendPathAsync(string path, int size, int port, ChildProcess sink, double rate)
    {
        string key = $"{path}_{size}";
        ChildProcess? child = null;
        try
        {
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
            }
            // Warm-up at the rate measured, so JIT tiers settle: 1 s left actor_send_many's first repetition at a
            // third of the rate in quick runs.
            await Measure.StepAsync(sink, false, send, rate, Math.Max(2, _warmSeconds));
            var steps = new List<Step>();
            for (int rep = 0; rep < _reps; rep++) steps.Add(await Measure.StepAsync(sink, false, send, rate, _cpuSeconds));
            Step max = await Measure.StepAsync(sink, false, send, 0, _cpuSeconds);
            // Clean: the sink confirmed every datagram and the sender kept within 10 % of the rate.
            bool Clean(Step s) => s.AllArrived && s.Offered >= 0.9 * rate;
            _figures[$"cpu_send_{key}"] = steps.Select(s => (s.SenderCpuUsPerDatagram, Clean(s))).ToList();
            string flaw = steps.All(Clean) ? ""
                : $" (not clean in {steps.Count(s => !Clean(s))} of {steps.Count}: offered down to {F(steps.Min(s => s.Offered))}/s, {steps.Max(s => s.Sent - s.Arrived)} never arrived)";
            // On lo, a GSO send is cut into datagrams on the receiving side: the sink's CPU shows what the sender saved.
            Line($"cpu_send {key}={Spread.Of(steps.Select(s => s.SenderCpuUsPerDatagram))!.Format("F3")} sink {Spread.Of(steps.Select(s => s.CpuUsPerDatagram))!.Median:F3}{flaw}");
            Line($"send_max {key}={F(max.Offered)} (kernel accepted; the sink took {F(max.Arrived * max.Offered / Math.Max(1, max.Sent))}/s)");
        }
        finally
        {
            if (child is not null) await child.DisposeAsync();
        }
    }
}
