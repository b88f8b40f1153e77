using Dgram.Sample;
using SampleWindow = Dgram.Sample.FaultWindow;
using Xunit;

namespace Dgram.Actors.Tests.Reliability;

/// <summary>
/// The sample's pass rule (samples/Dgram.Sample/LossRule.cs) on synthetic sequences: a fault window is
/// bounded by the publishers' sequence numbers at the fault and at the observed recovery, with no margin,
/// and explains losses only at the socket it applies to (issue 12, item 8).
/// </summary>
[Trait("Area", "Reliability")]
public sealed class SampleLossRuleTests
{
    /// <summary>Arrivals 1..<paramref name="last"/> without <paramref name="lost"/>.</summary>
    private static Arrivals Arrived(long last, params long[] lost)
    {
        var a = new Arrivals();
        for (long seq = 1; seq <= last; seq++) if (!lost.Contains(seq)) a.Add(seq);
        return a;
    }

    private static SampleWindow Window(string? socket, long[] sentBefore, long[] sentByEnd, string name = "fault")
    {
        var w = new SampleWindow(name, socket, sentBefore);
        w.Close(sentByEnd);
        return w;
    }

    [Fact]
    public void LossOneDatagramAfterTheWindowsLastMarker_IsUnexplained()
    {
        // At 200/s the old rule's 250 ms margin covered 50 datagrams on either side of a window.
        SampleWindow w = Window(null, [100], [150], "kill");
        Tally t = LossRule.Count([new Expected("ssm-rx", 0, "198.51.100.3", 200, Arrived(200, 101, 150, 151))], [w]);
        Assert.Equal((3L, 2L, 1L), (t.Lost, t.Explained, t.Unexplained));
        Assert.Equal("ssm-rx 198.51.100.3 #151: 1 after window 'kill' (#101-#150)", Assert.Single(t.Examples));
    }

    [Fact]
    public void LossJustBeforeTheWindowsFirstMarker_IsUnexplained()
    {
        Tally t = LossRule.Count([new Expected("ssm-rx", 0, "p", 200, Arrived(200, 100))], [Window(null, [100], [150])]);
        Assert.Equal(1, t.Unexplained);
    }

    [Fact]
    public void LossAtASocketTheWindowDoesNotApplyTo_IsUnexplained()
    {
        SampleWindow kill = Window("ssm-rx", [10, 20], [30, 40]);
        Tally t = LossRule.Count(
        [
            new Expected("ssm-rx", 0, "198.51.100.3", 50, Arrived(50, 15)),
            new Expected("asm-rx", 1, "198.51.100.2", 50, Arrived(50, 25)),
        ], [kill]);
        Assert.Equal((2L, 1L, 1L), (t.Lost, t.Explained, t.Unexplained));
        Assert.StartsWith("asm-rx 198.51.100.2 #25", Assert.Single(t.Examples), StringComparison.Ordinal);
    }

    [Fact]
    public void EachPublisherHasItsOwnMarkers()
    {
        SampleWindow w = Window(null, [10, 100], [20, 110]);
        Tally t = LossRule.Count(
        [
            new Expected("ssm-rx", 0, "a", 200, Arrived(200, 15, 105)), // #105 of publisher a is outside a's range
            new Expected("ssm-rx", 1, "b", 200, Arrived(200, 15, 105)), // #15 of publisher b is outside b's range
        ], [w]);
        Assert.Equal((4L, 2L, 2L), (t.Lost, t.Explained, t.Unexplained));
    }

    [Fact]
    public void LossAtTheTail_AfterTheLastDatagramThatArrived_IsCounted()
    {
        // The old rule saw only gaps between two arrivals: a lost tail was neither lost nor unexplained.
        Tally t = LossRule.Count([new Expected("asm-rx", 0, "p", 100, Arrived(98))], []);
        Assert.Equal((2L, 0L, 2L), (t.Lost, t.Explained, t.Unexplained));
    }

    [Fact]
    public void OpenWindow_ExplainsNothing()
    {
        var open = new SampleWindow("never recovered", null, [10]);
        Tally t = LossRule.Count([new Expected("asm-rx", 0, "p", 100, Arrived(100, 50))], [open]);
        Assert.Equal(1, t.Unexplained);
        Assert.Contains("no fault window applies", Assert.Single(t.Examples), StringComparison.Ordinal);
    }

    [Fact]
    public void Arrivals_CountARepeatAsADuplicate_NotAsASecondArrival()
    {
        // Across sites (./run.sh --sites 2) the bridge must deliver each datagram once: a repeat fails the run.
        Arrivals a = Arrived(10);
        a.Add(4);
        a.Add(4);
        Assert.Equal((10L, 2L, 10L), (a.Count, a.Duplicates, a.Highest));
    }

    [Fact]
    public void SteadyAfter_NeedsARunOfConsecutiveArrivals_AfterTheMark()
    {
        // A first datagram after a fault is not recovery: the bridge can still lose a few while its window reopens.
        Arrivals a = Arrived(260, [.. Enumerable.Range(101, 50).Select(i => (long)i), 160, 220]);
        Assert.False(a.SteadyAfter(100, 60)); // 151-159, 161-219, 221-260: runs of 9, 59 and 40
        Assert.True(a.SteadyAfter(100, 59));
        Assert.True(a.SteadyAfter(219, 40));
        Assert.False(a.SteadyAfter(230, 31)); // only 30 after 230
    }
}
