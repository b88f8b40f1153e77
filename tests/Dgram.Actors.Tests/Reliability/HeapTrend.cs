using System.Globalization;

namespace Dgram.Actors.Tests.Reliability;

/// <summary>
/// The soak's leak detector. The managed heap is sampled after a full collection at steady points of the
/// run (streams flowing, no fault in progress), from the end of warm-up on. A least-squares line through
/// the samples gives the growth over the run (slope × span), which one noisy sample cannot move much;
/// the last sample over the first catches a step the line flattens. The run leaks when either exceeds
/// the budget.
/// </summary>
public sealed class HeapTrend(long budgetBytes)
{
    private readonly List<(double Seconds, long Bytes)> _samples = [];

    public long Budget { get; } = budgetBytes;
    public int Count => _samples.Count;
    public double Span => Count < 2 ? 0 : _samples[^1].Seconds - _samples[0].Seconds;
    public long First => _samples[0].Bytes;
    public long Last => _samples[^1].Bytes;
    public long EndOverStart => Count == 0 ? 0 : Last - First;

    /// <summary>The least-squares slope in bytes per second (0 with fewer than two samples).</summary>
    public double Slope
    {
        get
        {
            if (Count < 2) return 0;
            double t = _samples.Average(s => s.Seconds), y = _samples.Average(s => (double)s.Bytes);
            double num = _samples.Sum(s => (s.Seconds - t) * (s.Bytes - y)), den = _samples.Sum(s => (s.Seconds - t) * (s.Seconds - t));
            return den == 0 ? 0 : num / den;
        }
    }

    /// <summary>What the line says the heap grew over the run.</summary>
    public double FittedGrowth => Slope * Span;

    /// <summary>The scatter of the samples around the line (root mean square), for judging the budget.</summary>
    public double Scatter
    {
        get
        {
            if (Count < 3) return 0;
            double b = Slope, t = _samples.Average(s => s.Seconds), y = _samples.Average(s => (double)s.Bytes);
            return Math.Sqrt(_samples.Sum(s => Math.Pow(s.Bytes - (y + b * (s.Seconds - t)), 2)) / (Count - 2));
        }
    }

    public bool Leaks => FittedGrowth > Budget || EndOverStart > Budget;

    /// <summary>A sample taken <paramref name="at"/> into the run; samples come in time order.</summary>
    public void Add(TimeSpan at, long bytes)
    {
        if (Count > 0 && at.TotalSeconds < _samples[^1].Seconds) throw new ArgumentException($"sample at {at} is earlier than the last one", nameof(at));
        _samples.Add((at.TotalSeconds, bytes));
    }

    public string Describe() => Count == 0 ? "managed heap: no samples" : string.Create(CultureInfo.InvariantCulture,
        $"managed heap after full collections: {Count} samples over {Span:F1} s, first {First / 1048576.0:F2} MiB, last {Last / 1048576.0:F2} MiB "
        + $"(end - start {EndOverStart / 1024.0:F0} KiB); fitted slope {Slope / 1024.0:F2} KiB/s, growth over the run {FittedGrowth / 1024.0:F0} KiB, "
        + $"scatter {Scatter / 1024.0:F0} KiB; budget {Budget / 1024.0:F0} KiB for either: {(Leaks ? "LEAK" : "ok")}");

    /// <summary>The samples, one "seconds:KiB" pair each (for the figures).</summary>
    public string Series() => string.Join(' ', _samples.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Seconds:F1}:{s.Bytes / 1024.0:F0}")));
}
