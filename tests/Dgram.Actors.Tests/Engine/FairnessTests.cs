using System.Diagnostics;
using System.Net;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Engine;

/// <summary>
/// Fairness on one engine thread (issue 14, goal "fairness"): each ready socket is read at most
/// <c>reads-per-wakeup</c> batches per wake-up, so a socket flooded at full rate (its kernel queue overflows) cannot
/// starve the 99 others on the same thread, which each receive a paced, sequence-numbered stream and lose nothing.
/// </summary>
[Trait("Area", "Security")]
public sealed class FairnessTests
{
    private const int Paced = 99, PerSecond = 1000;
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(1.5), Arrival = TimeSpan.FromSeconds(10);
    private readonly ITestOutputHelper _output;

    public FairnessTests(ITestOutputHelper output)
    {
        LabNet.Require();
        _output = output;
    }

    [Fact]
    public async Task OneSocketFlooded_NinetyNinePacedSocketsOnTheSameEngineThread_LoseNothing()
    {
        using DatagramSocket paceTx = EngineRig.Sender(), floodTx = EngineRig.Sender();
        ActorSystem system = EngineRig.OneThread("fairness");
        try
        {
            var flooded = new StampCounter();
            var (floodClient, floodAt) = await EngineRig.Start(system, "flooded", flooded);
            var counters = new StampCounter[Paced];
            var clients = new SocketClient[Paced];
            var targets = new IPEndPoint[Paced];
            for (int i = 0; i < Paced; i++)
            {
                counters[i] = new StampCounter();
                (clients[i], targets[i]) = await EngineRig.Start(system, "paced", counters[i]);
            }

            var clock = Stopwatch.StartNew();
            Task<long> flood = EngineRig.OnOwnThread(() => EngineRig.Flood(floodTx, floodAt, Duration));
            int sent = await EngineRig.OnOwnThread(() => EngineRig.Paced(paceTx, targets, PerSecond, Duration));
            long flooding = await flood;
            TimeSpan elapsed = clock.Elapsed;
            foreach (IPEndPoint to in targets) EngineRig.Send(paceTx, to, EngineRig.Marker);
            for (int i = 0; i < Paced; i++) Assert.True(counters[i].WaitForMarker(Arrival), $"paced socket {i} never got its marker");

            SocketState floodState = await floodClient.GetStateAsync();
            Assert.True(floodState.KernelQueueDrops > 0, $"the flood ({flooding} datagrams) overflowed nothing: it did not flood");
            Assert.True(flooded.Count > 0, "the flooded socket itself was never read");
            long lost = 0;
            for (int i = 0; i < Paced; i++)
            {
                SocketState state = await clients[i].GetStateAsync();
                lost += sent - counters[i].Count + state.KernelQueueDrops;
                Assert.True((sent, 0L, 0L, 0L, 0L) == (counters[i].Count, counters[i].OutOfOrder, state.Counters.NoConsumerDrops, state.Counters.KernelDrops, state.KernelQueueDrops),
                    $"paced socket {i}: got {counters[i].Count} of {sent} ({counters[i].OutOfOrder} out of order), no-consumer drops {state.Counters.NoConsumerDrops}, " +
                    $"kernel drops {state.Counters.KernelDrops} (/proc {state.KernelQueueDrops})");
            }
            _output.WriteLine($"{Paced} sockets × {sent} datagrams at {PerSecond}/s each in {elapsed.TotalSeconds:F2} s, lost {lost}; flooded socket: " +
                $"{flooding} sent ({flooding / elapsed.TotalSeconds:F0}/s), {flooded.Count} read, {floodState.KernelQueueDrops} dropped by the kernel");
        }
        finally
        {
            await system.Terminate();
        }
    }
}
