using Akka.Actor;
using Dgram.Cluster.Internal;
using Xunit;

namespace Dgram.Actors.Tests.Cluster;

/// <summary>
/// Order and accounting at a re-emitter (issue 16, item 5): per origin, each datagram goes out once; a gap is
/// counted as loss, what was seen before as duplicates (skipped), origins are independent, and the tracker holds a
/// bounded number of them.
/// </summary>
[Trait("Area", "Cluster")]
public sealed class OriginTrackerTests
{
    private static BridgeBatch Batch(long first, int count, long origin = 1, string site = "a", long confirmed = -1) =>
        new("g", site, origin, first, count, [], Math.Min(confirmed, first - 1));

    private static int Accept(OriginTracker t, BridgeBatch b) => t.Accept(b, ActorRefs.Nobody, out _);

    [Fact]
    public void InOrder_NothingSkipped_NothingCounted()
    {
        var t = new OriginTracker();
        Assert.Equal([0, 0, 0], new[] { Accept(t, Batch(0, 3)), Accept(t, Batch(3, 1)), Accept(t, Batch(4, 10)) });
        Assert.Equal((0L, 0L), (t.Lost, t.Duplicates));
    }

    [Fact]
    public void AGap_IsCountedAsLoss()
    {
        var t = new OriginTracker();
        Accept(t, Batch(0, 3));
        Assert.Equal(0, Accept(t, Batch(8, 2)));
        Assert.Equal((5L, 0L), (t.Lost, t.Duplicates));
    }

    [Fact]
    public void ARepeat_IsSkippedAndCounted_AnOverlapOnlyInPart()
    {
        var t = new OriginTracker();
        Accept(t, Batch(0, 5));
        Assert.Equal(2, Accept(t, Batch(0, 2)));    // all seen
        Assert.Equal(2, Accept(t, Batch(3, 4)));    // 3 and 4 seen, 5 and 6 new
        Assert.Equal((0L, 4L), (t.Lost, t.Duplicates));
        Assert.Equal(0, Accept(t, Batch(7, 1)));
    }

    [Fact]
    public void Origins_AreIndependent_AndAFirstSightingStartsAfterWhatWasConfirmed()
    {
        var t = new OriginTracker();
        Accept(t, Batch(0, 2, origin: 1));
        Assert.Equal(0, Accept(t, Batch(100, 2, origin: 2, confirmed: 99))); // 0..99 were emitted and confirmed before: not loss
        Assert.Equal(0, Accept(t, Batch(2, 1, origin: 1)));
        Assert.Equal(0, Accept(t, Batch(0, 1, origin: 1, site: "b")));
        Assert.Equal((0L, 0L, 3), (t.Lost, t.Duplicates, t.Count));
    }

    [Fact]
    public void AFirstSighting_CountsWhatWasSentAfterTheLastConfirmed_AsLost()
    {
        var t = new OriginTracker(); // a re-emitter that has just taken over
        Assert.Equal(0, Accept(t, Batch(5200, 10, confirmed: 5000)));
        Assert.Equal((199L, 0L), (t.Lost, t.Duplicates)); // 5001..5199: sent, never confirmed
        Assert.Equal(0, Accept(t, Batch(0, 3, origin: 2))); // a new ingress: nothing confirmed, nothing missing
        Assert.Equal(199L, t.Lost);
    }

    [Fact]
    public void TheLongestSilentOrigin_IsForgotten_AtCapacity()
    {
        var t = new OriginTracker(capacity: 2);
        Accept(t, Batch(0, 1, origin: 1));
        Accept(t, Batch(0, 1, origin: 2));
        Accept(t, Batch(1, 1, origin: 1)); // origin 2 is now the longest silent
        Accept(t, Batch(0, 1, origin: 3));
        Assert.Equal(2, t.Count);
        Assert.Equal(0, Accept(t, Batch(0, 1, origin: 2))); // forgotten: seen as new, not as a duplicate; origin 1 goes now
        Assert.Equal(1, Accept(t, Batch(0, 1, origin: 3))); // kept: a repeat
        Assert.Equal(1L, t.Duplicates);
    }

    [Fact]
    public void Unacknowledged_ListsOriginsWithDatagramsSinceTheirLastAck()
    {
        var t = new OriginTracker();
        t.Accept(Batch(0, 3, origin: 1), ActorRefs.Nobody, out OriginTracker.Entry one);
        t.Accept(Batch(0, 1, origin: 2), ActorRefs.Nobody, out OriginTracker.Entry two);
        two.Acked = two.Next - 1;
        Assert.Equal([one], t.Unacknowledged());
    }
}
