using System.Net;
using System.Reactive;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using Dgram.Rx;
using Xunit;

namespace Dgram.Actors.Tests.Rx;

/// <summary>Operators for multicast pipelines; time-based ones on virtual time (HistoricalScheduler).</summary>
[Trait("Area", "Rx")]
public sealed class RxOperatorTests
{
    private static readonly IPAddress A = IPAddress.Parse("198.51.100.2"), B = IPAddress.Parse("198.51.100.3");
    private static readonly IPAddress G1 = IPAddress.Parse("232.1.0.1"), G2 = IPAddress.Parse("232.1.0.2");

    private static Datagram D(IPAddress source, long seq, IPAddress? group = null, int size = 8)
    {
        byte[] payload = new byte[size];
        BitConverter.TryWriteBytes(payload, seq);
        return new Datagram(payload, new IPEndPoint(source, 5000), group ?? G1, 3, 1, 0, seq, false, payload.Length);
    }

    private static long? Seq(Datagram d) => d.Payload.Length >= 8 ? BitConverter.ToInt64(d.Payload.Span) : null;

    [Fact]
    public void SourceStatistics_OnVirtualTime_ReportsRateLossAndReorderPerSourcePerWindow()
    {
        var scheduler = new HistoricalScheduler(DateTimeOffset.UnixEpoch);
        var input = new Subject<Datagram>();
        var windows = new List<IReadOnlyList<SourceWindow>>();
        using var sub = input.SourceStatistics(Seq, TimeSpan.FromSeconds(1), scheduler).Subscribe(windows.Add);

        // Window 1: A sends 1..10 without loss; B sends 1,2,5 (3 and 4 lost) and a late 4.
        for (long i = 1; i <= 10; i++) input.OnNext(D(A, i));
        foreach (long i in new long[] { 1, 2, 5, 4 }) input.OnNext(D(B, i));
        scheduler.AdvanceBy(TimeSpan.FromSeconds(1));
        // Window 2: A sends 11, 12, 20 (13..19 lost); B is silent.
        foreach (long i in new long[] { 11, 12, 20 }) input.OnNext(D(A, i));
        scheduler.AdvanceBy(TimeSpan.FromSeconds(1));

        Assert.Equal(2, windows.Count);
        var w1 = windows[0].ToDictionary(w => w.Source);
        Assert.Equal((10L, 80L, 10.0, 0L, 0L), (w1[A].Count, w1[A].Bytes, w1[A].RatePerSecond, w1[A].Lost, w1[A].OutOfOrder));
        Assert.Equal((4L, 2L, 1L), (w1[B].Count, w1[B].Lost, w1[B].OutOfOrder));
        Assert.Equal(DateTimeOffset.UnixEpoch.AddSeconds(1), w1[A].WindowEnd);
        var w2 = Assert.Single(windows[1]);
        Assert.Equal((A, 3L, 7L), (w2.Source, w2.Count, w2.Lost));
    }

    [Fact]
    public void Decode_ParserFailures_AreCountedAndReported_StreamGoesOn()
    {
        var input = new Subject<Datagram>();
        var failures = new List<DecodeFailure>();
        var stats = new DecodeStatistics();
        var decoded = new List<long>();
        bool completed = false;
        using var sub = input.Decode(d => d.Payload.Length == 8 ? BitConverter.ToInt64(d.Payload.Span) : throw new FormatException("short"),
            Observer.Create<DecodeFailure>(failures.Add), stats).Subscribe(decoded.Add, () => completed = true);
        input.OnNext(D(A, 1));
        input.OnNext(D(A, 2, size: 3));
        input.OnNext(D(A, 3));
        input.OnCompleted();
        Assert.Equal([1L, 3L], decoded);
        Assert.Equal((2L, 1L), (stats.Decoded, stats.Failed));
        Assert.IsType<FormatException>(Assert.Single(failures).Error);
        Assert.True(completed);
    }

    [Fact]
    public void WhereSource_WhereGroup_GroupBySource_SelectWhatTheySay()
    {
        var all = new[] { D(A, 1, G1), D(B, 1, G1), D(A, 2, G2), D(B, 2, G2), D(A, 3, G1) };
        Assert.Equal([1L, 2, 3], all.ToObservable().WhereSource(A).Select(d => d.Sequence).ToEnumerable());
        Assert.Equal([2L, 2], all.ToObservable().WhereGroup(G2).Select(d => d.Sequence).ToEnumerable());
        var groups = all.ToObservable().GroupBySource().SelectMany(g => g.Count().Select(c => (g.Key, c))).ToEnumerable().ToDictionary(x => x.Key, x => x.c);
        Assert.Equal(3, groups[A]);
        Assert.Equal(2, groups[B]);
    }
}
