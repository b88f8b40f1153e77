using System.Globalization;
using Xunit;

namespace Dgram.Actors.Tests.Reliability;

/// <summary>
/// The soak's leak detector on heap samples: a real 60 s soak's samples, and the same with a leak added.
/// The budget (<see cref="SoakTests.HeapBudget"/>) is set against the drift measured in that run, where
/// the heap rose 214 KiB in the first 20 s and fell back: a leak of r KiB/s is caught once r × run length
/// clears the budget plus that drift (about 10 KiB/s in a 60 s run, 1 KiB/s in a 15-minute one).
/// </summary>
[Trait("Area", "Reliability")]
public sealed class HeapTrendTests
{
    /// <summary>`./soak.sh --duration 60 --seed 2336088`: seconds into the run and KiB, after warm-up (the samples the soak printed).</summary>
    private const string MeasuredSoak =
        "1.6:34277 4.2:34309 6.6:34319 9.4:34398 12.6:34413 15.7:34483 18.2:34486 20.2:34491 23.3:34445 24.8:34469 27.8:34319 30.2:34280 "
        + "31.7:34291 33.9:34287 35.3:34316 38.4:34312 39.9:34234 41.9:34313 44.3:34250 47.2:34238 48.8:34258 50.3:34260 51.8:34273 53.4:34278 "
        + "56.3:34274 57.9:34345 59.9:34364 60.2:34362";

    private static IEnumerable<(double Seconds, double KiB)> Measured() => MeasuredSoak.Split(' ').Select(p =>
    {
        string[] f = p.Split(':');
        return (double.Parse(f[0], CultureInfo.InvariantCulture), double.Parse(f[1], CultureInfo.InvariantCulture));
    });

    private static HeapTrend Trend(IEnumerable<(double Seconds, double KiB)> samples, double leakKiBPerSecond = 0)
    {
        var trend = new HeapTrend(SoakTests.HeapBudget);
        double start = double.NaN;
        foreach (var (s, kib) in samples)
        {
            if (double.IsNaN(start)) start = s;
            trend.Add(TimeSpan.FromSeconds(s), (long)((kib + leakKiBPerSecond * (s - start)) * 1024));
        }
        return trend;
    }

    /// <summary>The measured run's heap drift, repeated for <paramref name="minutes"/> (as a long soak would see it).</summary>
    private static IEnumerable<(double Seconds, double KiB)> Repeated(int minutes) =>
        Enumerable.Range(0, minutes).SelectMany(m => Measured().Select(x => (x.Seconds + 60 * m, x.KiB)));

    [Fact]
    public void MeasuredSoak_DoesNotLeak()
    {
        HeapTrend trend = Trend(Measured());
        Assert.False(trend.Leaks, trend.Describe());
        Assert.InRange(trend.FittedGrowth / 1024, -120, -100);
        Assert.Equal(85, trend.EndOverStart / 1024);
    }

    [Fact]
    public void MeasuredSoak_WithALeakOf12KiBPerSecond_Leaks_WhereTheOld16MiBLimitPassed()
    {
        HeapTrend trend = Trend(Measured(), leakKiBPerSecond: 12);
        Assert.True(trend.Leaks, trend.Describe());
        Assert.True(trend.FittedGrowth > SoakTests.HeapBudget, trend.Describe()); // the line alone sees it
        Assert.True(trend.EndOverStart < 16L << 20); // the old check: end within 16 MiB of warm-up
    }

    [Fact]
    public void FifteenMinuteSoak_WithALeakOf1KiBPerSecond_Leaks_AndWithoutItDoesNot()
    {
        Assert.False(Trend(Repeated(15)).Leaks, Trend(Repeated(15)).Describe());
        HeapTrend trend = Trend(Repeated(15), leakKiBPerSecond: 1);
        Assert.True(trend.FittedGrowth > SoakTests.HeapBudget, trend.Describe());
    }

    [Fact]
    public void AStepAtTheEnd_TheLineFlattens_EndOverStartCatchesIt()
    {
        var samples = Measured().ToList();
        samples[^1] = (samples[^1].Seconds, samples[^1].KiB + 600);
        HeapTrend trend = Trend(samples);
        Assert.True(trend.FittedGrowth < SoakTests.HeapBudget);
        Assert.True(trend.Leaks, trend.Describe());
    }

    [Fact]
    public void Slope_OfAStraightLine_IsItsRate()
    {
        HeapTrend trend = Trend(Enumerable.Range(0, 11).Select(i => (i * 2.0, 1000.0)), leakKiBPerSecond: 10);
        Assert.Equal(10 * 1024, trend.Slope, precision: 6);
        Assert.Equal(200 * 1024, trend.FittedGrowth, precision: 6);
        Assert.Equal(0, trend.Scatter, precision: 6);
    }
}
