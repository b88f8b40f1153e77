using System.Net;
using System.Reactive.Linq;
using Akka.Actor;
using Dgram.Actors.Tests.Actors;
using Dgram.Actors.Tests.Lab;
using Dgram.Rx;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Rx;

/// <summary>The README's pipeline, run in the lab: two SSM sources on one group, per-source rate, into an actor.</summary>
[Trait("Area", "Rx")]
public sealed class PipelineExampleTests(ITestOutputHelper output) : ActorTestBase(output)
{
    [Fact]
    public async Task ReadmePipeline_TwoSourcesOnOneSsmGroup_PerSourceFiguresReachTheActor()
    {
        var f = LabFamily.V4;
        IPAddress group = f.NewSsmGroup(), s1 = f.Tx0Sources[1], s2 = f.Tx0Sources[2];
        var (socket, port) = await StartReceiver(f);
        var aggregator = CreateTestProbe();

        // --- as in the README ---
        await socket.JoinSourceGroupAsync(group, s1, "lab0a");
        await socket.JoinSourceGroupAsync(group, s2, "lab0a");
        using var streams = await socket.OpenStreamsAsync();
        using var pipeline = streams.Datagrams()
            .SourceStatistics(d => BitConverter.ToInt64(d.Payload.Span), TimeSpan.FromMilliseconds(200))
            .SelectMany(window => window)                                   // one SourceWindow per source per window
            .Do(w => Console.WriteLine($"{w.Source}: {w.RatePerSecond:F0}/s, lost {w.Lost}"))
            .PipeTo(aggregator);
        // ---

        var tx1 = CoreSender(f, s1, LabNet.Tx0);
        var tx2 = CoreSender(f, s2, LabNet.Tx0);
        for (long i = 1; i <= 20; i++)
        {
            if (i == 7) continue; // sequence number 7 never sent: one loss per source
            tx1.SendTo(BitConverter.GetBytes(i), new IPEndPoint(group, port), Arrival);
            tx2.SendTo(BitConverter.GetBytes(i), new IPEndPoint(group, port), Arrival);
        }
        var totals = new Dictionary<IPAddress, (long Count, long Lost)>();
        await AwaitAssertAsync(() =>
        {
            while (aggregator.HasMessages)
            {
                var w = aggregator.ExpectMsg<SourceWindow>();
                var t = totals.GetValueOrDefault(w.Source);
                totals[w.Source] = (t.Count + w.Count, t.Lost + w.Lost);
            }
            Assert.Equal((19L, 1L), totals.GetValueOrDefault(s1));
            Assert.Equal((19L, 1L), totals.GetValueOrDefault(s2));
        }, TimeSpan.FromSeconds(5));
    }
}
