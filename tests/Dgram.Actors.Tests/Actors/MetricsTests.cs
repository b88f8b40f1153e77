using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Diagnostics;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Dgram.Actors.Tests.Sockets;
using Xunit;
using Xunit.Abstractions;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Tests.Actors;

/// <summary>
/// The <c>Dgram.Actors</c> meter, as any <see cref="MeterListener"/> sees it: datagrams and bytes sent
/// and received, tagged with the socket's name. Other tests' sockets report to the same meter at the
/// same time, so measurements are filtered by this test's socket names.
/// </summary>
public abstract class MetricsTests : ActorTestBase
{
    private readonly LabFamily _f;

    protected MetricsTests(LabFamily family, ITestOutputHelper output) : base(output) => _f = family;

    /// <summary>Sums of long measurements per (instrument, socket tag), for the sockets it is told to watch.</summary>
    private sealed class Totals : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly HashSet<string> _sockets;
        private readonly ConcurrentDictionary<(string Instrument, string Socket), long> _sums = new();

        public Totals(params string[] sockets)
        {
            _sockets = [.. sockets];
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == DgramMetrics.MeterName) listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                foreach (KeyValuePair<string, object?> tag in tags)
                {
                    if (tag.Key == "socket" && tag.Value is string s && _sockets.Contains(s))
                    {
                        _sums.AddOrUpdate((instrument.Name, s), value, (_, old) => old + value);
                    }
                }
            });
            _listener.Start();
        }

        public long this[string instrument, string socket] => _sums.TryGetValue((instrument, socket), out long v) ? v : 0;

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public async Task SendAndReceive_MeterCountsDatagramsAndBytes_TaggedBySocketName()
    {
        const int count = 12;
        int rxPort = LabNet.NextPort(), txPort = LabNet.NextPort();
        string rxName = "mrx-" + rxPort, txName = "mtx-" + txPort;
        using var totals = new Totals(rxName, txName);

        SocketClient rx = await SocketClient.StartAsync(Sys, new SocketSettings
        {
            Name = rxName, Family = _f.Family, LocalEndPoint = new IPEndPoint(_f.Loopback, rxPort),
        });
        SocketClient tx = await SocketClient.StartAsync(Sys, new SocketSettings
        {
            Name = txName, Family = _f.Family, LocalEndPoint = new IPEndPoint(_f.Loopback, txPort),
        });
        var probe = CreateTestProbe();
        await rx.SubscribeAsync(probe);

        long bytes = 0;
        var to = new IPEndPoint(_f.Loopback, rxPort);
        for (int i = 0; i < count; i++)
        {
            byte[] payload = new byte[100 + i]; // every size different: a wrong sum cannot hide
            bytes += payload.Length;
            SendResult sent = await tx.SendToAsync(payload, to);
            Assert.Equal(SendStatus.Sent, sent.Status);
        }
        for (int i = 0; i < count; i++) probe.ExpectMsg<Received>(Arrival);

        await AwaitAssertAsync(() =>
        {
            Assert.Equal(count, totals["dgram.datagrams.sent", txName]);
            Assert.Equal(bytes, totals["dgram.bytes.sent", txName]);
            Assert.Equal(count, totals["dgram.datagrams.received", rxName]);
            Assert.Equal(bytes, totals["dgram.bytes.received", rxName]);
            return Task.CompletedTask;
        }, Arrival);
        // Each socket is credited with its own side only.
        Assert.Equal(0, totals["dgram.datagrams.received", txName]);
        Assert.Equal(0, totals["dgram.datagrams.sent", rxName]);
        Assert.Equal(0, totals["dgram.send.failures", txName]);
        Assert.Equal(0, totals["dgram.drops.no_consumer", rxName]);

        // The meter and the actor's own counters agree.
        SocketCounters rxCounters = (await rx.GetStateAsync()).Counters, txCounters = (await tx.GetStateAsync()).Counters;
        Assert.Equal((count, bytes), (rxCounters.DatagramsReceived, rxCounters.BytesReceived));
        Assert.Equal((count, bytes), (txCounters.DatagramsSent, txCounters.BytesSent));
    }
}

[Trait("Area", "Actor")]
public sealed class MetricsTestsV4(ITestOutputHelper output) : MetricsTests(LabFamily.V4, output);

[Trait("Area", "Actor")]
public sealed class MetricsTestsV6(ITestOutputHelper output) : MetricsTests(LabFamily.V6, output);

/// <summary>
/// The <c>dgram.buffers.bytes</c> gauge, read as any <see cref="MeterListener"/> reads it: batch storage
/// counted from its allocation until its release. Serial: every other test's sockets hold batches too,
/// and would move the process-wide gauge under these assertions.
/// </summary>
[Collection(SerialCollection.Name)]
[Trait("Area", "Actor")]
public sealed class BufferGaugeTests(ITestOutputHelper output) : ActorTestBase(output)
{
    private const string Gauge = "dgram.buffers.bytes";

    /// <summary>The gauge now; 0 while it is unpublished (nothing was ever allocated then).</summary>
    private static long Read()
    {
        long value = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == DgramMetrics.MeterName && instrument.Name == Gauge) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, v, _, _) => value = v);
        listener.Start();
        listener.RecordObservableInstruments();
        return value;
    }

    /// <summary>Earlier tests' undisposed batches are released by their finalizers: run those now, not mid-test.</summary>
    private static void SettleFinalizers()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    [Fact]
    public void DatagramBatch_Created_RaisesTheGauge_HeldByAReceiveThroughDispose_FallsOnceOnRelease()
    {
        const int capacity = 64, size = 65536, payloads = capacity * size; // the storage is at least its payload slots
        SettleFinalizers();
        long before = Read();

        var batch = new DatagramBatch(capacity, size);
        long created = Read();
        Assert.InRange(created - before, payloads, payloads + capacity * 1024);

        // A receive holds the storage: Dispose leaves it counted until the receive lets go.
        batch.Acquire();
        batch.Dispose();
        Assert.Equal(created, Read());
        Assert.False(batch.Release());
        long released = Read();
        Assert.Equal(before, released);

        batch.Dispose(); // idempotent: nothing is uncounted twice
        Assert.Equal(released, Read());
    }

    [Fact]
    public void DatagramSendBatch_Collected_LowersTheGauge()
    {
        const int capacity = 64, size = 2048;
        SettleFinalizers();
        long before = Read();
        long created = CreateAndDrop(capacity, size);
        Assert.InRange(created - before, capacity * size, capacity * (size + 1024));

        SettleFinalizers();
        Assert.Equal(before, Read());
    }

    /// <summary>Not inlined, so that nothing in the test keeps the batch reachable.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static long CreateAndDrop(int capacity, int size)
    {
        var batch = new DatagramSendBatch(capacity, size);
        long created = Read();
        GC.KeepAlive(batch);
        return created;
    }

    [Fact]
    public async Task EngineThread_HoldsOneReceiveBatchPerShape_SharedBySockets_FreedWhenTheLastLeaves()
    {
        const int batchSize = 64, size = 65536;
        SettleFinalizers();
        long before = Read();
        // One engine thread, so both sockets share it.
        using var system = TestLog.CreateSystem("gauge", Output, "dgram.engine.threads = 1");
        var settings = new SocketSettings { Name = "gauge", Family = AddressFamily.InterNetwork, BatchSize = batchSize, MaxDatagramSize = size };
        SocketClient a = await SocketClient.StartAsync(system, settings with { Name = "gauge-a", LocalEndPoint = new IPEndPoint(IPAddress.Loopback, LabNet.NextPort()) });
        SocketClient b = await SocketClient.StartAsync(system, settings with { Name = "gauge-b", LocalEndPoint = new IPEndPoint(IPAddress.Loopback, LabNet.NextPort()) });
        await ReceiveOne(system, a);
        Assert.InRange(Read() - before, batchSize * size, batchSize * (size + 1024));
        await ReceiveOne(system, b);
        Assert.InRange(Read() - before, batchSize * size, batchSize * (size + 1024)); // the same batch: buffers belong to the thread

        Assert.True(await a.Socket.GracefulStop(Arrival));
        Assert.InRange(Read() - before, batchSize * size, batchSize * (size + 1024)); // b still reads with it
        Assert.True(await b.Socket.GracefulStop(Arrival));
        await AwaitAssertAsync(() => Assert.Equal(before, Read()), Arrival);
    }

    /// <summary>Subscribes, sends one datagram to the socket and waits for it (the engine allocates its batch on the first read).</summary>
    private async Task ReceiveOne(ActorSystem system, SocketClient client)
    {
        var probe = CreateTestProbe(system);
        await client.SubscribeAsync(probe);
        var port = ((IPEndPoint)(await client.GetStateAsync()).LocalEndPoint!).Port;
        SendText(Core(AddressFamily.InterNetwork), IPAddress.Loopback, port, "x");
        probe.ExpectMsg<SocketProtocol.Received>(Arrival);
    }
}
