namespace Dgram.Bench.Run;

internal static class Measure
{
    /// <summary>
    /// One step: marks the receiver, runs the paced sender, then waits until the receiver has every datagram
    /// or its total has stopped moving (three 20 ms polls without change), and marks it again.
    /// <paramref name="fewest"/> counts the socket that got fewest (fan-out), else the sum over sockets.
    /// </summary>
    public static async Task<Step> StepAsync(ChildProcess receiver, bool fewest, Func<double, double, Task<Fields>> send, double rate, double seconds)
    {
        string key = fewest ? "min" : "count";
        Fields m0 = await receiver.AskAsync("mark");
        Fields sender = await send(rate, seconds);
        long sent = (long)sender["sent"];
        Fields m1;
        double previous = -1;
        int still = 0;
        while (true)
        {
            await Task.Delay(20);
            m1 = await receiver.AskAsync("mark");
            if (m1[key] - m0[key] >= sent) break;
            // Still draining while any socket takes datagrams (the sum moves), even if the fewest does not.
            still = m1["count"] == previous ? still + 1 : 0;
            if (still >= 3) break;
            previous = m1["count"];
        }
        return new Step(rate, sent / sender["seconds"], sent, (long)(m1[key] - m0[key]), m1["cpu_us"] - m0["cpu_us"],
            m1.Get("alloc", double.NaN) - m0.Get("alloc", double.NaN), m1.Get("gen0", double.NaN) - m0.Get("gen0", double.NaN), sender.Get("cpu_us", double.NaN));
    }
}
