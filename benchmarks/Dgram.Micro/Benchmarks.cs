using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using BenchmarkDotNet.Attributes;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;

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
