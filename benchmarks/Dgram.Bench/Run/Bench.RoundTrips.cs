namespace Dgram.Bench.Run;

/// <summary>Round trips against the C echo pinned to the other core.</summary>
internal sealed partial class Bench
{
    private async Task RoundTripsAsync()
    {
        int port = ++_port;
        await using ChildProcess echo = ChildProcess.Native(SenderCore, "sink", "--mode", "echo", "--bind", "127.0.0.1", "--port", F(port));
        await echo.ReadyAsync();
        Line($"# round trips: 32 B ping-pongs against a C echo pinned to core {SenderCore}, {(_quick ? 5_000 : 20_000)} per repetition after 1,000 unmeasured");
        foreach (string path in Child.RttChild.Paths) await Guarded($"rtt {path}", async () =>
        {
            await using ChildProcess rtt = ChildProcess.Managed(ReceiverCore, "rtt", "--path", path, "--dest", "127.0.0.1", "--port", F(port),
                "--count", F(_quick ? 5_000 : 20_000), "--reps", F(_reps));
            var reps = (await rtt.OutputAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Fields.Parse).ToList();
            _figures[$"rtt_p99_{path}"] = reps.Select(r => (r["p99"], true)).ToList();
            Line($"rtt_p50_us {path}={Spread.Of(reps.Select(r => r["p50"]))!.Format("F1")}");
            Line($"rtt_p99_us {path}={Spread.Of(reps.Select(r => r["p99"]))!.Format("F1")}");
        });
    }
}
