using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using BenchmarkDotNet.Attributes;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Rx;

namespace Dgram.Micro;

/// <summary>One option change and one send: through the actor's mailbox (Ask) and on the socket core directly.</summary>
[MemoryDiagnoser]
public class ActorOperations
{
    private ActorSystem _system = null!;
    private SocketClient _client = null!;
    private DatagramSocket _core = null!, _sink = null!;
    private IPEndPoint _to = null!;
    private readonly byte[] _payload = new byte[64];
    private int _ttl;

    [GlobalSetup]
    public async Task Setup()
    {
        _system = ActorSystem.Create("micro", "akka.loglevel = WARNING");
        _sink = DatagramSocket.Create(AddressFamily.InterNetwork);
        _sink.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _to = (IPEndPoint)_sink.LocalEndPoint!;
        _client = await SocketClient.StartAsync(_system, new SocketSettings
        {
            Name = "micro", Family = AddressFamily.InterNetwork, LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            SocketOptions = new DatagramSocketOptions(),
        });
        _core = DatagramSocket.Create(AddressFamily.InterNetwork);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _system.Terminate().Wait();
        _core.Dispose();
        _sink.Dispose();
    }

    [Benchmark(Description = "SetMulticastTtl through the actor")]
    public Task<int> OptionThroughActor() => _client.SetMulticastTtlAsync(1 + (_ttl++ & 63));

    [Benchmark(Description = "SetMulticastTtl on the socket core")]
    public int OptionOnCore() => _core.SetMulticastTtl(1 + (_ttl++ & 63));

    [Benchmark(Description = "SendTo through the actor")]
    public Task<SendResult> SendThroughActor() => _client.SendToAsync(_payload, _to);

    [Benchmark(Description = "SendTo on the socket core")]
    public SendResult SendOnCore() => _core.SendTo(_payload, _to, TimeSpan.Zero);
}

/// <summary>One datagram through the read loop to N inline Rx subscribers (per datagram: divide by the batch).</summary>
[MemoryDiagnoser]
public class FanOutToSubscribers
{
    private ActorSystem _system = null!;
    private SocketClient _client = null!;
    private DatagramStreams _streams = null!;
    private readonly List<IDisposable> _subscriptions = [];
    private DatagramSocket _sender = null!;
    private SocketAddress _to = null!;
    private readonly byte[] _payload = new byte[64];
    private long _received;

    [Params(1, 4, 16)]
    public int Subscribers { get; set; }

    private const int Batch = 1000;

    [GlobalSetup]
    public async Task Setup()
    {
        _system = ActorSystem.Create("micro-fan", "akka.loglevel = WARNING");
        _client = await SocketClient.StartAsync(_system, new SocketSettings
        {
            Name = "fan", Family = AddressFamily.InterNetwork, LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            SocketOptions = new DatagramSocketOptions(), ReceiveBufferSize = 4 << 20,
        });
        _streams = await _client.OpenStreamsAsync();
        for (int i = 0; i < Subscribers; i++)
        {
            _subscriptions.Add(_streams.Leases(new SubscriberOptions { Inline = true }).Subscribe(l =>
            {
                l.Dispose();
                Interlocked.Increment(ref _received);
            }));
        }
        _sender = DatagramSocket.Create(AddressFamily.InterNetwork);
        var state = await _client.GetStateAsync();
        _to = ((IPEndPoint)state.LocalEndPoint!).Serialize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var s in _subscriptions) s.Dispose();
        _streams.Dispose();
        _system.Terminate().Wait();
        _sender.Dispose();
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "one datagram to N inline subscribers (zero-copy leases)")]
    public void FanOut()
    {
        long target = Interlocked.Read(ref _received) + (long)Batch * Subscribers;
        for (int i = 0; i < Batch; i++) _sender.SendTo(_payload, _to, TimeSpan.FromSeconds(1));
        var spin = new SpinWait();
        while (Interlocked.Read(ref _received) < target) spin.SpinOnce();
    }
}
