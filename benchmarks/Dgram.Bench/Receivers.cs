using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.IO;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Rx;

namespace Dgram.Bench;

/// <summary>A receiver under test: started on a port, counts datagrams until stopped.</summary>
internal interface IReceiver : IAsyncDisposable
{
    long Count { get; }
    /// <summary>Datagrams the path itself dropped (subscriber buffers), counted.</summary>
    long Dropped => 0;
}

internal static class Receivers
{
    public static IEnumerable<(string Name, Func<int, Task<IReceiver>> Start)> All(ActorSystem system) =>
    [
        ("raw_sync", p => Task.FromResult<IReceiver>(new RawSync(p))),
        ("raw_async", p => Task.FromResult<IReceiver>(new RawAsync(p))),
        ("akka_io", p => AkkaIo.Start(system, p)),
        ("core_sync", p => Task.FromResult<IReceiver>(new CoreSync(p))),
        ("batched", p => Task.FromResult<IReceiver>(new CoreBatched(p))),
        ("actor_rx_inline_zero_copy", p => ActorRx.Start(system, p, leases: true, inline: true)),
        ("actor_rx_inline_owned", p => ActorRx.Start(system, p, leases: false, inline: true)),
        ("actor_rx_buffered_zero_copy", p => ActorRx.Start(system, p, leases: true, inline: false)),
    ];

    /// <summary>A receive loop on its own thread; <c>receiveOnce</c> returns how many datagrams one call took (0 on timeout).</summary>
    private abstract class ThreadReceiver : IReceiver
    {
        private Thread? _thread;
        private long _count;
        private volatile bool _stop;

        protected void Start(Func<long> receiveOnce)
        {
            _thread = new Thread(() =>
            {
                while (!_stop) _count += receiveOnce();
            }) { IsBackground = true };
            _thread.Start();
        }

        public long Count => Volatile.Read(ref _count);

        protected abstract void Close();

        public ValueTask DisposeAsync()
        {
            _stop = true;
            _thread?.Join();
            Close();
            return ValueTask.CompletedTask;
        }
    }

    private static Socket RawSocket(int port)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 4 << 20 };
        s.Bind(new IPEndPoint(IPAddress.Loopback, port));
        return s;
    }

    /// <summary>.NET synchronous ReceiveFrom(Span, SocketFlags, SocketAddress): 0 B per datagram.</summary>
    private sealed class RawSync : ThreadReceiver
    {
        private readonly Socket _socket;

        public RawSync(int port)
        {
            _socket = RawSocket(port);
            _socket.ReceiveTimeout = 100;
            byte[] buffer = new byte[2048];
            var from = new SocketAddress(AddressFamily.InterNetwork);
            Start(() =>
            {
                try
                {
                    _socket.ReceiveFrom(buffer, SocketFlags.None, from);
                    return 1;
                }
                catch (SocketException)
                {
                    return 0; // the 100 ms timeout
                }
            });
        }

        protected override void Close() => _socket.Dispose();
    }

    /// <summary>.NET ReceiveFromAsync(Memory, SocketFlags, SocketAddress).</summary>
    private sealed class RawAsync : IReceiver
    {
        private readonly Socket _socket;
        private readonly Task _loop;
        private readonly CancellationTokenSource _stop = new();
        private long _count;

        public RawAsync(int port)
        {
            _socket = RawSocket(port);
            _loop = Task.Run(async () =>
            {
                byte[] buffer = new byte[2048];
                var from = new SocketAddress(AddressFamily.InterNetwork);
                try
                {
                    while (true)
                    {
                        await _socket.ReceiveFromAsync(buffer, SocketFlags.None, from, _stop.Token);
                        _count++;
                    }
                }
                catch (OperationCanceledException)
                {
                }
            });
        }

        public long Count => Volatile.Read(ref _count);

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            await _loop;
            _socket.Dispose();
        }
    }

    /// <summary>Akka.IO Udp: a bound listener delivering Udp.Received to a handler actor.</summary>
    private sealed class AkkaIo : IReceiver
    {
        private readonly Counter _counter;
        private readonly IActorRef _handler;

        private AkkaIo(Counter counter, IActorRef handler)
        {
            _counter = counter;
            _handler = handler;
        }

        public static async Task<IReceiver> Start(ActorSystem system, int port)
        {
            var counter = new Counter();
            var bound = new TaskCompletionSource();
            IActorRef handler = system.ActorOf(Props.Create(() => new Handler(counter, bound, port)));
            await bound.Task.WaitAsync(TimeSpan.FromSeconds(5));
            return new AkkaIo(counter, handler);
        }

        public long Count => Volatile.Read(ref _counter.Value);

        public async ValueTask DisposeAsync() => await _handler.GracefulStop(TimeSpan.FromSeconds(5));

        private sealed class Handler : ReceiveActor
        {
            private IActorRef? _listener;

            public Handler(Counter counter, TaskCompletionSource bound, int port)
            {
                Receive<Udp.Bound>(_ =>
                {
                    _listener = Sender;
                    bound.TrySetResult();
                });
                Receive<Udp.Received>(_ => counter.Value++);
                Udp.Instance.Apply(Context.System).Manager.Tell(new Udp.Bind(Self, new IPEndPoint(IPAddress.Loopback, port)));
            }

            protected override void PostStop() => _listener?.Tell(Udp.Unbind.Instance);
        }
    }

    internal sealed class Counter
    {
        public long Value;
    }

    private static DatagramSocket CoreSocket(int port)
    {
        var s = DatagramSocket.Create(AddressFamily.InterNetwork);
        s.SetReceiveBufferSize(4 << 20);
        s.Bind(new IPEndPoint(IPAddress.Loopback, port));
        return s;
    }

    /// <summary>This project's socket core, one recvmsg per datagram (with metadata off).</summary>
    private sealed class CoreSync : ThreadReceiver
    {
        private readonly DatagramSocket _socket;

        public CoreSync(int port)
        {
            _socket = CoreSocket(port);
            byte[] buffer = new byte[2048];
            SocketAddress from = _socket.CreateSocketAddress();
            Start(() => _socket.ReceiveFrom(buffer, from, TimeSpan.FromMilliseconds(100)).Status == ReceiveStatus.Received ? 1 : 0);
        }

        protected override void Close() => _socket.Dispose();
    }

    /// <summary>The socket core's recvmmsg path, 64 datagrams per call.</summary>
    private sealed class CoreBatched : ThreadReceiver
    {
        private readonly DatagramSocket _socket;
        private readonly DatagramBatch _batch = new(64, 2048, 0);

        public CoreBatched(int port)
        {
            _socket = CoreSocket(port);
            Start(() =>
            {
                var r = _socket.ReceiveBatch(_batch, TimeSpan.FromMilliseconds(100));
                return r.Status == ReceiveStatus.Received ? r.Count : 0;
            });
        }

        protected override void Close()
        {
            _socket.Dispose();
            _batch.Dispose();
        }
    }

    /// <summary>The socket actor's read loop (recvmmsg batches) into a Dgram.Rx stream.</summary>
    private sealed class ActorRx : IReceiver
    {
        private readonly SocketClient _client;
        private readonly DatagramStreams _streams;
        private readonly IDisposable _subscription;
        private readonly SubscriberStatistics _stats;
        private readonly Counter _counter;

        private ActorRx(SocketClient client, DatagramStreams streams, IDisposable subscription, SubscriberStatistics stats, Counter counter)
        {
            _client = client;
            _streams = streams;
            _subscription = subscription;
            _stats = stats;
            _counter = counter;
        }

        public static async Task<IReceiver> Start(ActorSystem system, int port, bool leases, bool inline)
        {
            var client = await SocketClient.StartAsync(system, new SocketSettings
            {
                Name = "bench-" + port, Family = AddressFamily.InterNetwork, LocalEndPoint = new IPEndPoint(IPAddress.Loopback, port),
                ReceiveBufferSize = 4 << 20, BatchSize = 64, MaxDatagramSize = 2048,
                SocketOptions = new DatagramSocketOptions(), // no per-datagram metadata, as the raw paths
            });
            var streams = await client.OpenStreamsAsync();
            var stats = new SubscriberStatistics();
            var options = new SubscriberOptions { Inline = inline, Capacity = 1 << 16, Overflow = Dgram.Rx.OverflowPolicy.DropNewest, Statistics = stats };
            var counter = new Counter();
            IDisposable subscription = leases
                ? streams.Leases(options).Subscribe(new LeaseCounter(counter))
                : streams.Datagrams(options).Subscribe(new OwnedCounter(counter));
            return new ActorRx(client, streams, subscription, stats, counter);
        }

        public long Count => Volatile.Read(ref _counter.Value);
        public long Dropped => _stats.Dropped;

        public async ValueTask DisposeAsync()
        {
            _subscription.Dispose();
            _streams.Dispose();
            await _client.Socket.GracefulStop(TimeSpan.FromSeconds(5));
        }

        private sealed class LeaseCounter(Counter counter) : IObserver<DatagramLease>
        {
            public void OnNext(DatagramLease value)
            {
                value.Dispose();
                counter.Value++;
            }

            public void OnError(Exception error) { }
            public void OnCompleted() { }
        }

        private sealed class OwnedCounter(Counter counter) : IObserver<Datagram>
        {
            public void OnNext(Datagram value) => counter.Value++;
            public void OnError(Exception error) { }
            public void OnCompleted() { }
        }
    }
}
