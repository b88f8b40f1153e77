namespace Dgram.Bench.Run;

internal static class Measure
{
    /// <summary>
    /// How long after the sender stops the receiver may still take datagrams that count. Without a limit, a
    /// receiver behind by its whole receive buffer (8 MiB: ~9,700 datagrams of 64 B) would pass for lossless;
    /// 20 ms lets a receiver that keeps up finish its last burst.
    /// </summary>
    private static readonly TimeSpan Grace = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// One step: marks the receiver, runs the paced sender, marks again after <see cref="Grace"/>, then lets
    /// the receiver drain (so the next step starts empty). <paramref name="fewest"/> counts the socket that
    /// got fewest (fan-out), else the sum over sockets. Throws if the sender sent nothing.
    /// </summary>
    public static async Task<Step> StepAsync(ChildProcess receiver, bool fewest, Func<double, double, Task<Fields>> send, double rate, double seconds)
    {
        string key = fewest ? "min" : "count";
        double core0 = CoreBusyMicroseconds(Bench.ReceiverCore);
        Fields m0 = await receiver.AskAsync("mark");
        Fields sender = await send(rate, seconds);
        long sent = (long)sender["sent"];
        if (rate > 0 && sent == 0) throw new InvalidOperationException($"the sender sent nothing at {rate:F0}/s ({sender.Get("errors", 0)} send errors)");
        await Task.Delay(Grace);
        Fields m1 = await receiver.AskAsync("mark");
        double core1 = CoreBusyMicroseconds(Bench.ReceiverCore);
        Fields end = await SettleAsync(receiver);
        return new Step(rate, sent / sender["seconds"], sent, (long)(m1[key] - m0[key]), (long)(end[key] - m0[key]),
            m1["cpu_us"] - m0["cpu_us"], core1 - core0,
            m1.Get("alloc", double.NaN) - m0.Get("alloc", double.NaN), m1.Get("gen0", double.NaN) - m0.Get("gen0", double.NaN),
            sender.Get("cpu_us", double.NaN));
    }

    /// <summary>Waits until a receiver's total stops moving (two 20 ms polls without change); returns the last mark.</summary>
    public static async Task<Fields> SettleAsync(ChildProcess receiver)
    {
        Fields last = await receiver.AskAsync("mark");
        for (int still = 0; still < 2;)
        {
            await Task.Delay(20);
            Fields now = await receiver.AskAsync("mark");
            still = now["count"] == last["count"] ? still + 1 : 0;
            last = now;
        }
        return last;
    }

    /// <summary>
    /// A core's busy time (user, nice, system, irq, softirq, steal) from /proc/stat, in µs: the receiving
    /// core's whole work, kernel receive included, which this kernel (no IRQ time accounting) charges to
    /// whatever task softirq interrupts, or to none when the core was idle.
    /// </summary>
    public static double CoreBusyMicroseconds(int core)
    {
        string prefix = $"cpu{core} ";
        string line = File.ReadLines("/proc/stat").First(l => l.StartsWith(prefix, StringComparison.Ordinal));
        long[] v = line[prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();
        long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; // user nice system (idle iowait) irq softirq steal
        return busy * 1e6 / 100; // USER_HZ
    }
}
