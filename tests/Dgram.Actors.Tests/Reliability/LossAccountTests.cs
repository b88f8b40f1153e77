using Xunit;

namespace Dgram.Actors.Tests.Reliability;

/// <summary>
/// The loss account's rule on synthetic data (no lab): a counted drop explains a loss only inside the
/// window it was counted in, a window is bounded by sequence markers, and a loss outside every window
/// is unexplained whatever was counted elsewhere (issue 12, item 8).
/// </summary>
[Trait("Area", "Reliability")]
public sealed class LossAccountTests
{
    private const string Rx = "rx", Other = "other";
    private readonly Dictionary<string, ReceiverDrops> _drops = new() { [Rx] = new(0, 0, 0, 0), [Other] = new(0, 0, 0, 0) };
    private NetworkDrops _network;
    private readonly LossAccount _account;
    private readonly int _stream;
    private long _sent;

    public LossAccountTests()
    {
        _account = new LossAccount(() => _network);
        _stream = _account.AddStream("s");
        _account.AddReceiver(Rx, () => Task.FromResult(_drops[Rx]), _stream);
        _account.AddReceiver(Other, () => Task.FromResult(_drops[Other]), _stream);
    }

    /// <summary>Sends <paramref name="count"/> datagrams; each arrives at both receivers unless listed as lost there.</summary>
    private void Send(int count, long[]? lostAtRx = null, long[]? lostAtOther = null)
    {
        for (int i = 0; i < count; i++)
        {
            long seq = ++_sent;
            _account.Sent(_stream, seq, LossAccount.Now());
            if (lostAtRx?.Contains(seq) != true) Deliver(Rx, seq);
            if (lostAtOther?.Contains(seq) != true) Deliver(Other, seq);
        }
    }

    /// <summary>Datagram <paramref name="sequence"/> arrives at <paramref name="receiver"/> (late, when it was sent as lost there).</summary>
    private void Deliver(string receiver, long sequence)
    {
        byte[] payload = new byte[Stamp.Size];
        Stamp.Write(payload, _stream, sequence, LossAccount.Now());
        _account.Received(receiver, payload);
    }

    private void CountSubscriberDrop(string receiver, int n = 1) => _drops[receiver] = _drops[receiver] with { Subscriber = _drops[receiver].Subscriber + n };

    [Fact]
    public async Task DropCountedInsideAFaultWindow_DoesNotExplainALossOutsideEveryWindow()
    {
        FaultWindow a = await _account.BeginAsync("A");
        Send(10, lostAtRx: [5]);
        CountSubscriberDrop(Rx);
        await _account.EndAsync(a);
        Send(10, lostAtRx: [15]);

        LossReport report = await _account.ReportAsync();
        ReceiverFigures rx = report.Receivers.Single(r => r.Receiver == Rx);
        Assert.Equal((2L, 1L), (rx.Missing, rx.MissingOutside));
        Assert.Equal(1, rx.Unexplained); // the old rule set the drop in A against #15 and called it explained
        Assert.Contains(report.OutsideExamples, e => e.Contains("#15: sent 5 after window 'A' (#1-#10)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task DropsCountedOutsideEveryWindow_DoNotExplainALossOutsideEveryWindow()
    {
        Send(10, lostAtRx: [3]);
        _drops[Rx] = _drops[Rx] with { KernelOverflow = 1, KernelQueue = 1 };
        _network = new NetworkDrops(Backlog: 1, Interfaces: 0);

        LossReport report = await _account.ReportAsync();
        Assert.Equal(1, report.Unexplained);
    }

    [Fact]
    public async Task DropCountedInCountedWindowA_DoesNotExplainALossInCountedWindowB()
    {
        FaultWindow a = await _account.BeginAsync("A", WindowKind.Counted);
        Send(10);
        CountSubscriberDrop(Rx); // a drop with no loss of its own in A (say, a datagram of another stream)
        await _account.EndAsync(a);
        FaultWindow b = await _account.BeginAsync("B", WindowKind.Counted);
        Send(10, lostAtRx: [14]);
        await _account.EndAsync(b);

        LossReport report = await _account.ReportAsync();
        Assert.Equal(1, report.Unexplained);
        Assert.Equal(0, report.Receivers.Single(r => r.Receiver == Rx).MissingOutside); // inside B, but B counted nothing
        WindowFigures wb = report.Windows.Single(w => w.Name == "B");
        Assert.Equal((1L, 0L, 1L), (wb.Lost, wb.ReceiverDrops, wb.Unexplained));
    }

    [Fact]
    public async Task CountedWindow_ItsOwnDropsExplainItsLosses_TheExcessIsUnexplained()
    {
        FaultWindow w = await _account.BeginAsync("overrun", WindowKind.Counted);
        Send(10, lostAtRx: [2, 3, 4], lostAtOther: [7, 8]);
        CountSubscriberDrop(Rx, 2);
        CountSubscriberDrop(Other, 2);
        await _account.EndAsync(w);

        LossReport report = await _account.ReportAsync();
        Assert.Equal(1, report.Receivers.Single(r => r.Receiver == Rx).Unexplained);
        Assert.Equal(0, report.Receivers.Single(r => r.Receiver == Other).Unexplained);
        // One receiver's drops never explain another's losses.
        Assert.Equal((5L, 4L, 1L), (report.Windows[0].Lost, report.Windows[0].ReceiverDrops, report.Windows[0].Unexplained));
    }

    [Fact]
    public async Task CountedWindow_NetworkDropsCountedInsideItExplainItsLosses_NotThoseOfALaterWindow()
    {
        FaultWindow a = await _account.BeginAsync("A", WindowKind.Counted);
        Send(10, lostAtRx: [4]);
        _network = new NetworkDrops(Backlog: 2, Interfaces: 0);
        await _account.EndAsync(a);
        FaultWindow b = await _account.BeginAsync("B", WindowKind.Counted);
        Send(10, lostAtRx: [12]);
        await _account.EndAsync(b);

        LossReport report = await _account.ReportAsync();
        Assert.Equal((0L, 1L), (report.Windows.Single(w => w.Name == "A").Unexplained, report.Windows.Single(w => w.Name == "B").Unexplained));
    }

    [Fact]
    public async Task Window_IsBoundedByMarkers_TheFirstDatagramAfterItsEndIsOutside()
    {
        Send(5, lostAtRx: [5]);
        FaultWindow w = await _account.BeginAsync("kill");
        Send(5, lostAtRx: [6, 10]);
        await _account.EndAsync(w);
        Send(5, lostAtRx: [11]);

        LossReport report = await _account.ReportAsync();
        Assert.Equal((6L, 10L), w.Range(_stream));
        ReceiverFigures rx = report.Receivers.Single(r => r.Receiver == Rx);
        Assert.Equal((4L, 2L, 2L), (rx.Missing, rx.MissingOutside, rx.Unexplained)); // #5 and #11 are outside, #6 and #10 inside
    }

    [Fact]
    public async Task FaultWindow_ExplainsOnlyTheReceiversItApplies()
    {
        FaultWindow w = await _account.BeginAsync("kill rx", WindowKind.Fault, (receiver, _) => receiver == Rx);
        Send(10, lostAtRx: [3], lostAtOther: [4]);
        await _account.EndAsync(w);

        LossReport report = await _account.ReportAsync();
        Assert.Equal(0, report.Receivers.Single(r => r.Receiver == Rx).Unexplained);
        Assert.Equal(1, report.Receivers.Single(r => r.Receiver == Other).Unexplained);
    }

    [Fact]
    public async Task OpenWindow_ExplainsNothing()
    {
        await _account.BeginAsync("never recovered");
        Send(10, lostAtRx: [3]);

        LossReport report = await _account.ReportAsync();
        Assert.Equal(1, report.Unexplained);
        Assert.Equal(new[] { "never recovered" }, report.OpenWindows);
    }

    /// <summary>
    /// The kernel tables show recovery before delivery resumes: the datagrams lost until the first one
    /// sent after that arrives are the fault's, and the wait ends at that datagram (not at a late one
    /// sent before it).
    /// </summary>
    [Fact]
    public async Task AwaitDeliverySince_EndsAtTheFirstArrivalSentAfterIt_TheLossesBeforeItAreInsideTheWindow()
    {
        Send(5);
        FaultWindow w = await _account.BeginAsync("down/up", WindowKind.Fault, (receiver, _) => receiver == Rx);
        Send(5, lostAtRx: [6, 7, 8, 9, 10]);
        Task resumed = _account.AwaitDeliverySinceAsync(w, TimeSpan.FromSeconds(10)); // tables and events show recovery here
        Send(2, lostAtRx: [11, 12]); // the kernel still drops
        Deliver(Rx, 10); // a late arrival sent before the mark proves nothing
        Assert.False(resumed.IsCompleted);
        Send(1);
        await resumed.WaitAsync(TimeSpan.FromSeconds(10));
        await _account.EndAsync(w);
        Send(5);

        LossReport report = await _account.ReportAsync();
        Assert.Equal((6L, 13L), w.Range(_stream));
        ReceiverFigures rx = report.Receivers.Single(r => r.Receiver == Rx);
        Assert.Equal((6L, 0L, 0L), (rx.Missing, rx.MissingOutside, rx.Unexplained)); // #6-#9, #11, #12
    }

    [Fact]
    public async Task AwaitDeliverySince_WaitsOnlyForTheReceiversTheWindowAppliesTo_ATimeoutNamesTheOneThatLags()
    {
        FaultWindow rxOnly = await _account.BeginAsync("kill rx", WindowKind.Fault, (receiver, _) => receiver == Rx);
        Task resumed = _account.AwaitDeliverySinceAsync(rxOnly, TimeSpan.FromSeconds(10));
        Send(1, lostAtOther: [1]);
        await resumed.WaitAsync(TimeSpan.FromSeconds(10));

        FaultWindow both = await _account.BeginAsync("down/up");
        Task lagging = _account.AwaitDeliverySinceAsync(both, TimeSpan.FromMilliseconds(100));
        Send(1, lostAtOther: [2]);
        var e = await Assert.ThrowsAsync<TimeoutException>(() => lagging);
        Assert.Contains("receiver other got nothing of stream s past #1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReceiverDropsSince_ACounterThatWentDown_BelongsToANewSocketCountingFromZero()
    {
        var before = new ReceiverDrops(Subscriber: 1, KernelOverflow: 5, KernelQueue: 5, NoConsumer: 2);
        var after = new ReceiverDrops(Subscriber: 4, KernelOverflow: 7, KernelQueue: 2, NoConsumer: 2); // a restart: /proc forgot the old socket
        ReceiverDrops d = after.Since(before);
        Assert.Equal(new ReceiverDrops(3, 2, 2, 0), d);
        Assert.Equal(5, d.Total);
        Assert.Equal(new ReceiverDrops(0, 0, 3, 0), new ReceiverDrops(0, 0, 3, 0).Since(new ReceiverDrops(0, 0, -1, 0))); // -1: not found before
    }
}
