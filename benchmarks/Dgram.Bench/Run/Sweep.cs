namespace Dgram.Bench.Run;

/// <summary>
/// One paced step: what the sender offered, what the receiver took within the grace after the sender
/// stopped (<see cref="Received"/>: loss is judged on it) and eventually (<see cref="Arrived"/>), the receiver
/// process's CPU and the receiving core's busy time over the step, and the sender's own CPU.
/// </summary>
internal sealed record Step(double Requested, double Offered, long Sent, long Received, long Arrived, double CpuUs, double CoreUs,
    double AllocBytes, double Gen0, double SenderCpuUs)
{
    /// <summary>Loss above this fraction makes a step lossy (0.1 %).</summary>
    public const double LossLimit = 0.001;

    public double Loss => Sent == 0 ? 0 : Math.Max(0, 1 - (double)Received / Sent);
    public bool Lossless => (Sent - Received) * 1000 <= Sent; // LossLimit, in integers: 100 of 100,000 is lossless
    /// <summary>Every datagram reached the receiver, if only after the grace (what a send step needs).</summary>
    public bool AllArrived => Arrived >= Sent;
    public double CpuUsPerDatagram => CpuUs / Math.Max(1, Received);
    public double CoreUsPerDatagram => CoreUs / Math.Max(1, Received);
    public double AllocPerDatagram => AllocBytes / Math.Max(1, Received);
    public double Gen0Per100k => Gen0 * 100_000 / Math.Max(1, Received);
    public double SenderCpuUsPerDatagram => SenderCpuUs / Math.Max(1, Sent);
}

/// <summary>A ceiling: the highest offered rate with loss ≤ 0.1 %, and whether the sender could offer 1.2× that.</summary>
internal sealed record Ceiling(double Rate, double MaxOffered)
{
    public const double SenderMargin = 1.2;
    public bool SenderLimited => MaxOffered < SenderMargin * Rate;
}

internal static class Sweep
{
    /// <summary>
    /// The highest lossless offered rate. Without a hint: from 100k/s, doubling up to 3.2M/s until a step
    /// is lossy or the sender falls 10 % short of the rate asked (halving down from 100k/s if the first
    /// step is lossy), then bisection on a log scale until the bracket
    /// is narrower than <paramref name="precision"/>. With a hint (an earlier repetition's ceiling): the
    /// bracket starts at hint / 1.3 and hint × 1.3 and widens if either end is wrong. The rate returned
    /// is what the sender actually offered in the best lossless step below every lossy one; if no step
    /// offered 1.2× that, more steps ask for 1.3× so the sender-limited check has its evidence.
    /// </summary>
    public static async Task<Ceiling> FindAsync(Func<double, Task<Step>> step, double? hint, double precision, Action<Step>? progress = null)
    {
        const double floor = 1_000, top = 3_200_000;
        var steps = new List<Step>();
        async Task<bool> Lossless(double rate)
        {
            Step s = await step(rate);
            steps.Add(s);
            progress?.Invoke(s);
            return s.Lossless;
        }
        // Going up from a lossless step; stops at a lossy one (the upper bracket) or when the sender fell
        // 10 % short of what was asked (then the sender, not the receiver, is the limit: no bracket left).
        async Task<(double Lo, double Hi)> Climb(double lo, double hi)
        {
            while (hi <= top)
            {
                if (!await Lossless(hi)) return (lo, hi);
                lo = hi;
                if (steps[^1].Offered < 0.9 * hi) return (lo, lo);
                hi *= 2;
            }
            return (lo, lo);
        }

        double lo, hi;
        if (hint is > 0)
        {
            lo = hint.Value / 1.3;
            hi = hint.Value * 1.3;
            while (lo > floor && !await Lossless(lo))
            {
                hi = lo;
                lo /= 2;
            }
            if (lo > floor) (lo, hi) = await Climb(lo, hi);
        }
        else
        {
            (lo, hi) = await Climb(0, 100_000);
            // Lossy at the start: halve down to a lossless rate.
            while (lo == 0 && hi > floor)
            {
                hi /= 2;
                if (await Lossless(hi)) (lo, hi) = (hi, hi * 2);
            }
        }
        while (lo > floor && hi / lo > precision)
        {
            double mid = Math.Sqrt(lo * hi);
            if (await Lossless(mid)) lo = mid;
            else hi = mid;
        }
        // The ceiling is the best lossless step below the lowest lossy one: a lucky lossless step above a
        // lossy one is noise, not capacity. The sender-limited check needs a step at 1.2x the ceiling: ask
        // for 1.3x (up to six times) until one is lossy or the sender falls short of what was asked.
        double Best()
        {
            double lowestLossy = steps.Where(s => !s.Lossless).Select(s => s.Offered).DefaultIfEmpty(double.MaxValue).Min();
            return steps.Where(s => s.Lossless && s.Offered < lowestLossy).Select(s => s.Offered).DefaultIfEmpty(0).Max();
        }
        for (int i = 0; i < 6 && Best() > 0 && steps.Max(s => s.Offered) < Ceiling.SenderMargin * Best(); i++)
        {
            double asked = Best() * 1.3;
            if (!await Lossless(asked) || steps[^1].Offered < 0.9 * asked) break;
        }
        return new Ceiling(Best(), steps.Max(s => s.Offered));
    }
}
