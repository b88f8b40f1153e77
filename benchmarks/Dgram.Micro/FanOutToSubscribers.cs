using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Supervision;
using Dgram.Rx;

namespace Dgram.Micro;

/// <summary>
/// One received datagram fanned out to N inline Rx subscribers of pooled leases, each disposing its
/// lease. The timed region calls the streams' read-loop handler (<c>DatagramHub.OnDatagram</c>, the
/// library's fan-out) exactly as the read loop does, on a batch of real datagrams that one recvmmsg
/// took in setup: no send, no recvmmsg and no wait for the kernel is timed.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class FanOutToSubscribers
{
    // The read loop's recvmmsg batch (SocketSettings.BatchSize's default), replayed Passes times per
    // invoke so each invoke is long enough to time; results read per datagram.
    private const int BatchSize = 16, Passes = 64, PerInvoke = BatchSize * Passes;

    private ActorSystem _system = null!;
    private DatagramStreams _streams = null!;
    private readonly List<IDisposable> _subscriptions = [];
    private IDatagramHandler _handler = null!;
    private DatagramBatch _batch = null!;
    private long _sequence, _delivered;

    [Params(1, 4, 16, 64)]
    public int Subscribers { get; set; }

    [Params(64, 1400)]
    public int PayloadSize { get; set; }

    [GlobalSetup]
    public async Task Setup()
    {
        var settings = new SocketSettings
        {
            Name = "fan", Family = AddressFamily.InterNetwork, LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0), BatchSize = BatchSize,
        };
        _system = ActorSystem.Create("micro-fan", "akka.loglevel = WARNING");
        SocketClient client = await SocketClient.StartAsync(_system, settings);
        _streams = await client.OpenStreamsAsync();
        for (int i = 0; i < Subscribers; i++)
        {
            _subscriptions.Add(_streams.Leases(new SubscriberOptions { Inline = true }).Subscribe(lease =>
            {
                lease.Dispose();
                _delivered++; // one thread calls every subscriber, as the read loop does
            }));
        }
        _handler = _streams.Handler;
        _batch = ReceiveBatch(settings, PayloadSize);

        // Time only a path that delivers: every datagram to every subscriber, every lease back in the pool.
        FanOut();
        if (_delivered != (long)PerInvoke * Subscribers || _streams.Pool.Outstanding != 0)
        {
            throw new InvalidOperationException($"fan-out check: {_delivered} delivered of {PerInvoke * Subscribers}, {_streams.Pool.Outstanding} leases outstanding");
        }
    }

    /// <summary>
    /// One batch as the read loop would hold it: received with one recvmmsg on a socket with the options
    /// the socket actor gives its own (packet info, hop limit, queue overflow), into a batch sized as its.
    /// </summary>
    private static DatagramBatch ReceiveBatch(SocketSettings settings, int payloadSize)
    {
        using DatagramSocket receiver = DatagramSocket.Create(settings.Family, settings.SocketOptions);
        receiver.Bind(settings.LocalEndPoint!);
        EndPoint to = receiver.LocalEndPoint!;
        using DatagramSocket sender = DatagramSocket.Create(settings.Family);
        var batch = new DatagramBatch(settings.BatchSize, settings.MaxDatagramSize);
        var payload = new byte[payloadSize];
        for (int i = 0; i < settings.BatchSize; i++) sender.SendTo(payload, to, TimeSpan.FromSeconds(1));
        BatchReceiveResult r = receiver.ReceiveBatch(batch, TimeSpan.FromSeconds(5));
        // Loopback queues a datagram before sendto returns, so one call takes the whole batch.
        if (r.Status != ReceiveStatus.Received || r.Count != settings.BatchSize || !batch[0].HasDestination)
        {
            throw new InvalidOperationException($"setup receive: {r}, destination known: {r.Count > 0 && batch[0].HasDestination}");
        }
        return batch;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (IDisposable s in _subscriptions) s.Dispose();
        _streams.Dispose();
        _system.Terminate().Wait();
        _batch.Dispose();
    }

    [Benchmark(OperationsPerInvoke = PerInvoke, Description = "one datagram to N inline subscribers (pooled leases)")]
    public void FanOut()
    {
        IDatagramHandler handler = _handler;
        DatagramBatch batch = _batch;
        for (int pass = 0; pass < Passes; pass++)
        {
            for (int i = 0; i < BatchSize; i++) handler.OnDatagram(batch.Payload(i), batch.SourceAddress(i), in batch[i], ++_sequence);
        }
    }

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new PerAddedSubscriberColumn());
    }
}

/// <summary>
/// (mean at N − mean at one subscriber) / (N − 1): what each subscriber beyond the first adds, with the
/// other parameters equal. The fixed per-datagram cost stays in the N = 1 row.
/// </summary>
internal sealed class PerAddedSubscriberColumn : IColumn
{
    private const string Parameter = nameof(FanOutToSubscribers.Subscribers);

    public string Id => nameof(PerAddedSubscriberColumn);
    public string ColumnName => "PerAddedSubscriber";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Statistics;
    public int PriorityInCategory => 100;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "(Mean - Mean at 1 subscriber) / (Subscribers - 1): the cost of each subscriber beyond the first";

    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        if (benchmarkCase.Parameters[Parameter] is not int n || n <= 1) return "-";
        string others = Others(benchmarkCase);
        BenchmarkCase? one = summary.BenchmarksCases.FirstOrDefault(c =>
            c.Descriptor == benchmarkCase.Descriptor && c.Parameters[Parameter] is 1 && Others(c) == others);
        double? at = summary[benchmarkCase]?.ResultStatistics?.Mean, atOne = one is null ? null : summary[one]?.ResultStatistics?.Mean;
        return at is null || atOne is null ? "NA" : $"{(at.Value - atOne.Value) / (n - 1):0.00} ns";
    }

    private static string Others(BenchmarkCase c) =>
        string.Join(",", c.Parameters.Items.Where(p => p.Name != Parameter).Select(p => p.Name + "=" + p.Value));
}
