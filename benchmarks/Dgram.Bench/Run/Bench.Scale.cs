namespace Dgram.Bench.Run;

/// <summary>Many sockets: the fan-out of one group to 8 and 64, what N idle socket actors cost, and the aggregate ceiling of 100 receiving at once.</summary>
internal sealed partial class Bench
{
    private async Task ScaleAsync()
    {
        Line("# scale: N socket actors, each joined to its own group on lab0a; idle over 5 s with no traffic (process not pinned)");
        foreach (int n in new[] { 0, 1, 100, 1000 })
        {
            int port = _port + 1;
            _port += Math.Max(n, 1);
            await Guarded($"scale sockets={n}", async () =>
            {
                await using ChildProcess scale = ChildProcess.Managed(null, "scale", "--sockets", F(n), "--iface", "lab0a", "--port", F(port));
                foreach (string line in (await scale.OutputAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries)) Line(line);
            });
        }
        var aggregate = new RxCase("aggregate_actor_rx_inline_100", "actor_rx_inline", Placement.Aggregate, 100, Distinct: true);
        Line("# aggregate: 100 socket actors in one process, each on its own group and port, the C sender round-robin over the 100");
        await Guarded(aggregate.Key, () => CeilingAsync(aggregate, 64, _quick ? 1 : _reps));
        _port += 100;
    }

    private async Task FanOutAsync()
    {
        Line("# fan-out: one group (239.255.77.1) joined by N sockets on lab0a, the C sender out of lab0b; the rate is per receiver, lossless on every one");
        foreach (int n in new[] { 8, 64 })
        {
            foreach (string path in new[] { "actor_rx_inline", "raw_sync" })
            {
                var c = new RxCase($"fanout_{path}_{n}", path, Placement.FanOut, n, Fewest: true);
                await Guarded(c.Key, () => CeilingAsync(c, 64, _quick ? 1 : _reps));
            }
        }
    }
}
