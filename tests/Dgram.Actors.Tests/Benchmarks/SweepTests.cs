using Dgram.Bench;
using Dgram.Bench.Run;
using Xunit;

namespace Dgram.Actors.Tests.Benchmarks;

/// <summary>
/// The benchmark's ceiling search (benchmarks/Dgram.Bench/Run/Sweep.cs) against a model: a receiver that
/// takes everything up to its ceiling and a sender that offers what is asked up to its own limit. No
/// sockets and no clock: the figures the benchmark prints depend on this logic being right.
/// </summary>
public sealed class SweepTests
{
    /// <summary>A step of the model: the sender offers min(asked, limit); the receiver keeps up to its ceiling.</summary>
    private static Func<double, Task<Step>> Model(double receiverCeiling, double senderLimit, List<double>? asked = null) => rate =>
    {
        asked?.Add(rate);
        double offered = Math.Min(rate, senderLimit);
        long sent = (long)offered, received = (long)Math.Min(offered, receiverCeiling);
        return Task.FromResult(new Step(rate, offered, sent, received, received, 0, 0, 0, 0, 0));
    };

    [Theory]
    [InlineData(30_000)]
    [InlineData(250_000)]
    [InlineData(777_000)]
    public async Task FindAsync_ReceiverBelowSender_FindsItsCeilingWithinThePrecision(double ceiling)
    {
        Ceiling found = await Sweep.FindAsync(Model(ceiling, 2_000_000), null, 1.05);

        Assert.InRange(found.Rate, ceiling / 1.05, ceiling);
        Assert.False(found.SenderLimited);
        Assert.True(found.MaxOffered >= 1.2 * found.Rate);
    }

    [Fact]
    public async Task FindAsync_SenderSlowerThanReceiver_IsSenderLimited()
    {
        Ceiling found = await Sweep.FindAsync(Model(900_000, 500_000), null, 1.05);

        Assert.True(found.SenderLimited);
        Assert.Equal(500_000, found.Rate);
    }

    [Fact]
    public async Task FindAsync_SenderJustAboveTheCeiling_IsSenderLimitedBelowTheMargin()
    {
        // The sender reaches 1.1x the receiver's ceiling, not the 1.2x the check asks for.
        Ceiling found = await Sweep.FindAsync(Model(400_000, 440_000), null, 1.05);

        Assert.True(found.SenderLimited);
        Assert.InRange(found.Rate, 400_000 / 1.05, 400_000);
    }

    [Fact]
    public async Task FindAsync_WithAWrongHint_WidensTheBracketBothWays()
    {
        Ceiling low = await Sweep.FindAsync(Model(100_000, 2_000_000), 600_000, 1.05);
        Ceiling high = await Sweep.FindAsync(Model(900_000, 3_000_000), 100_000, 1.05);

        Assert.InRange(low.Rate, 100_000 / 1.05, 100_000);
        Assert.InRange(high.Rate, 900_000 / 1.05, 900_000);
    }

    [Fact]
    public async Task FindAsync_WithAGoodHint_TakesFewerSteps()
    {
        var cold = new List<double>();
        var warm = new List<double>();
        await Sweep.FindAsync(Model(333_000, 2_000_000, cold), null, 1.05);
        await Sweep.FindAsync(Model(333_000, 2_000_000, warm), 333_000, 1.05);

        Assert.True(warm.Count < cold.Count, $"{warm.Count} steps with a hint, {cold.Count} without");
    }

    [Fact]
    public async Task FindAsync_ALuckyLosslessStepAboveALossyOne_DoesNotRaiseTheCeiling()
    {
        // A receiver with a ceiling of 300k that, by noise, also passes one band far above it.
        Func<double, Task<Step>> noisy = rate =>
        {
            bool lucky = rate is >= 380_000 and < 420_000;
            long sent = (long)rate, received = lucky || rate <= 300_000 ? sent : (long)(sent * 0.9);
            return Task.FromResult(new Step(rate, rate, sent, received, received, 0, 0, 0, 0, 0));
        };

        Ceiling found = await Sweep.FindAsync(noisy, 400_000, 1.05);

        Assert.InRange(found.Rate, 300_000 / 1.05, 300_000);
    }

    [Fact]
    public async Task FindAsync_LossyEvenAtTheFloor_ReportsZero()
    {
        Ceiling found = await Sweep.FindAsync(Model(0, 2_000_000), null, 1.05);

        Assert.Equal(0, found.Rate);
    }

    [Fact]
    public void Step_LossAtTheLimit_IsLossless_AndAboveItIsNot()
    {
        Assert.True(new Step(0, 0, 100_000, 99_900, 100_000, 0, 0, 0, 0, 0).Lossless);
        Assert.False(new Step(0, 0, 100_000, 99_899, 100_000, 0, 0, 0, 0, 0).Lossless);
        // Loss is judged on what arrived within the grace, not on what drained from the buffer later.
        Assert.False(new Step(0, 0, 100_000, 90_000, 100_000, 0, 0, 0, 0, 0).Lossless);
        Assert.True(new Step(0, 0, 100_000, 90_000, 100_000, 0, 0, 0, 0, 0).AllArrived);
    }

    [Fact]
    public void Spread_OddAndEvenCounts_GiveTheMedianAndTheRange()
    {
        Assert.Equal(new Spread(2, 1, 9, 3), Spread.Of([9, 1, 2]));
        Assert.Equal(new Spread(2.5, 1, 9, 4), Spread.Of([9, 1, 2, 3]));
        Assert.Equal(new Spread(4, 4, 4, 1), Spread.Of([4, double.NaN]));
        Assert.Null(Spread.Of([]));
        Assert.Equal("2.50 (1.00-9.00)", Spread.Of([9, 1, 2, 3])!.Format("F2"));
    }

    [Fact]
    public void Options_AnUnknownOrMisspeltKey_FailsTheRun()
    {
        var o = new Options(["--path", "raw_sync", "--rats", "5"]);
        Assert.Equal("raw_sync", o.Required("--path"));
        var e = Assert.Throws<ArgumentException>(o.End);
        Assert.Contains("--rats", e.Message);
        Assert.Throws<ArgumentException>(() => new Options(["--path"]));
        Assert.Throws<ArgumentException>(() => new Options(["stray"]));
    }
}
