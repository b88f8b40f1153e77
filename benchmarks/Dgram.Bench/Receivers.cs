using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.IO;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Rx;

namespace Dgram.Bench;

/// <summary>
/// Where a receiver listens: a unicast address, or a group (source-specific when <see cref="Source"/> is
/// set) joined on <see cref="Interface"/> with the socket bound to the group. Every path asks for the
/// same receive buffer.
/// </summary>
internal sealed record Target(IPAddress Bind, int Port, IPAddress? Group, IPAddress? Source, string? Interface, int ReceiveBuffer)
{
    public AddressFamily Family => Bind.AddressFamily;
    public IPEndPoint EndPoint => new(Bind, Port);

    /// <summary>
    /// Socket <paramref name="i"/> of several: port + i, and group + i (as the C sender's <c>--dests</c>)
    /// when each socket has its own group; the same target when they share one.
    /// </summary>
    public Target Nth(int i, bool distinct)
    {
        if (!distinct || i == 0) return this;
        IPAddress? group = Group is null ? null : Offset(Group, i);
        return this with { Port = Port + i, Group = group, Bind = group ?? Bind };
    }

    private static IPAddress Offset(IPAddress address, int i)
    {
        byte[] bytes = address.GetAddressBytes();
        if (bytes.Length == 4) BinaryPrimitives.WriteUInt32BigEndian(bytes, BinaryPrimitives.ReadUInt32BigEndian(bytes) + (uint)i);
        else BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(14), (ushort)(BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(14)) + i));
        return new IPAddress(bytes);
    }
}

/// <summary>A receiver under test: listening once started, counts datagrams until disposed.</summary>
internal interface IReceiver : IAsyncDisposable
{
    long Count { get; }
    /// <summary>Datagrams the path itself dropped (subscriber buffers), counted.</summary>
    long Dropped => 0;
}

internal static class Receivers
{
    /// <summary>
    /// Every receive path by name; <c>shared</c> says several sockets share the target's port. Only the
    /// paths that need an actor system create one: an idle actor system costs CPU a raw path must not pay.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, Func<Lazy<ActorSystem>, Target, bool, Task<IReceiver>>> Paths =
        new Dictionary<string, Func<Lazy<ActorSystem>, Target, bool, Task<IReceiver>>>
        {
            ["raw_sync"] = (_, t, shared) => Task.FromResult<IReceiver>(new RawSync(t, shared)),
            ["raw_async"] = (_, t, shared) => Task.FromResult<IReceiver>(new RawAsync(t, shared)),
            ["akka_io"] = (system, t, _) => AkkaIo.Start(system.Value, t),
            ["core_sync"] = (_, t, shared) => Task.FromResult<IReceiver>(new CoreSync(t, shared)),
            ["batched"] = (_, t, shared) => Task.FromResult<IReceiver>(new CoreBatched(t, shared)),
            ["actor_rx_inline"] = (system, t, shared) => ActorRx.Start(system.Value, t, shared, leases: true, inline: true),
            ["actor_rx_inline_dedicated"] = (system, t, shared) => ActorRx.Start(system.Value, t, shared, leases: true, inline: true, dedicated: true),
            ["actor_rx_inline_owned"] = (system, t, shared) => ActorRx.Start(system.Value, t, shared, leases: false, inline: true),
            ["actor_rx_buffered"] = (system, t, shared) => ActorRx.Start(system.Value, t, shared, leases: true, inline: false),
        };

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
                while (!_stop) Volatile.Write(ref _count, _count + receiveOnce());
            }) { IsBackground = true, Name = "receive" };
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

    /// <summary>
    /// A .NET socket bound and joined as the target says. Joins use MCAST_JOIN_(SOURCE_)GROUP, which name
    /// the interface by index for both families (.NET has no IPv6 source-specific join); a shared port
    /// uses SO_REUSEADDR alone (.NET's ReuseAddress adds SO_REUSEPORT, which breaks IPv4 source filters).
    /// </summary>
    private static Socket RawSocket(Target t, bool shared)
    {
        var s = new Socket(t.Family, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = t.ReceiveBuffer };
        if (shared) s.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
        s.Bind(t.EndPoint);
        if (t.Group is not null)
        {
            int level = t.Family == AddressFamily.InterNetwork ? 0 /* IPPROTO_IP */ : 41 /* IPPROTO_IPV6 */;
            // struct group_source_req / group_req: a 32-bit interface index, padding to 8, then sockaddr_storage(s).
            byte[] request = new byte[t.Source is null ? 136 : 264];
            BinaryPrimitives.WriteUInt32LittleEndian(request, (uint)NetworkInterfaceNames.GetIndex(t.Interface!));
            new IPEndPoint(t.Group, 0).Serialize().Buffer.Span.CopyTo(request.AsSpan(8));
            if (t.Source is not null) new IPEndPoint(t.Source, 0).Serialize().Buffer.Span.CopyTo(request.AsSpan(136));
            s.SetRawSocketOption(level, t.Source is null ? 42 /* MCAST_JOIN_GROUP */ : 46 /* MCAST_JOIN_SOURCE_GROUP */, request);
        }
        return s;
    }

    /// <summary>.NET synchronous ReceiveFrom(Span, SocketFlags, SocketAddress): 0 B per datagram.</summary>
    private sealed class RawSync : ThreadReceiver
    {
        private readonly Socket _socket;

        public RawSync(Target t, bool shared)
        {
            _socket = RawSocket(t, shared);
            _socket.ReceiveTimeout = 100;
            byte[] buffer = new byte[65536];
            var from = new SocketAddress(t.Family);
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

        public RawAsync(Target t, bool shared)
        {
            _socket = RawSocket(t, shared);
            _loop = Task.Run(async () =>
            {
                byte[] buffer = new byte[65536];
                var from = new SocketAddress(t.Family);
                try
                {
                    while (true)
                    {
                        await _socket.ReceiveFromAsync(buffer, SocketFlags.None, from, _stop.Token);
                        Volatile.Write(ref _count, _count + 1);
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

    /// <summary>Akka.IO Udp: a bound listener delivering Udp.Received to a handler actor, with the same receive buffer.</summary>
    private sealed class AkkaIo : IReceiver
    {
        private readonly Counter _counter;
        private readonly IActorRef _handler;

        private AkkaIo(Counter counter, IActorRef handler)
        {
            _counter = counter;
            _handler = handler;
        }

        public static async Task<IReceiver> Start(ActorSystem system, Target t)
        {
            if (t.Group is not null) throw new ArgumentException("akka_io: multicast is not measured (Akka.IO has no source-specific join)");
            var counter = new Counter();
            var bound = new TaskCompletionSource();
            IActorRef handler = system.ActorOf(Props.Create(() => new Handler(counter, bound, t)));
            await bound.Task.WaitAsync(TimeSpan.FromSeconds(5));
            return new AkkaIo(counter, handler);
        }

        public long Count => Volatile.Read(ref _counter.Value);

        public async ValueTask DisposeAsync() => await _handler.GracefulStop(TimeSpan.FromSeconds(5));

        private sealed class Handler : ReceiveActor
        {
            private IActorRef? _listener;

            public Handler(Counter counter, TaskCompletionSource bound, Target t)
            {
                Receive<Udp.Bound>(_ =>
                {
                    _listener = Sender;
                    bound.TrySetResult();
                });
                Receive<Udp.Received>(_ => Volatile.Write(ref counter.Value, counter.Value + 1));
                Udp.Instance.Apply(Context.System).Manager.Tell(new Udp.Bind(Self, t.EndPoint, [new Inet.SO.ReceiveBufferSize(t.ReceiveBuffer)]));
            }

            protected override void PostStop() => _listener?.Tell(Udp.Unbind.Instance);
        }
    }

    internal sealed class Counter
    {
        public long Value;
    }

    private static DatagramSocket CoreSocket(Target t, bool shared)
    {
        if (t.Group is not null || shared) throw new ArgumentException("core paths: unicast only");
        var s = DatagramSocket.Create(t.Family);
        s.SetReceiveBufferSize(t.ReceiveBuffer);
        s.Bind(t.EndPoint);
        return s;
    }

    /// <summary>This project's socket core, one recvmsg per datagram (with metadata off).</summary>
    private sealed class CoreSync : ThreadReceiver
    {
        private readonly DatagramSocket _socket;

        public CoreSync(Target t, bool shared)
        {
            _socket = CoreSocket(t, shared);
            byte[] buffer = new byte[65536];
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

        public CoreBatched(Target t, bool shared)
        {
            _socket = CoreSocket(t, shared);
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

    /// <summary>The socket actor's reading (recvmmsg batches, on a shared engine thread or, <c>dedicated</c>, a thread of its own) into a Dgram.Rx stream.</summary>
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

        private static int s_next;

        public static async Task<IReceiver> Start(ActorSystem system, Target t, bool shared, bool leases, bool inline, bool dedicated = false)
        {
            var client = await SocketClient.StartAsync(system, new SocketSettings
            {
                Name = "bench-" + Interlocked.Increment(ref s_next), Family = t.Family, LocalEndPoint = t.EndPoint,
                Reuse = shared ? AddressReuse.ReuseAddress : AddressReuse.None,
                ReceiveBufferSize = t.ReceiveBuffer, BatchSize = 64, MaxDatagramSize = 2048, DedicatedReadThread = dedicated,
                SocketOptions = new DatagramSocketOptions(), // no per-datagram metadata, as the raw paths
                Groups = t.Group is null ? [] : [new GroupSettings(t.Group, t.Interface, t.Source is null ? null : [t.Source])],
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
                Volatile.Write(ref counter.Value, counter.Value + 1);
            }

            public void OnError(Exception error) { }
            public void OnCompleted() { }
        }

        private sealed class OwnedCounter(Counter counter) : IObserver<Datagram>
        {
            public void OnNext(Datagram value) => Volatile.Write(ref counter.Value, counter.Value + 1);
            public void OnError(Exception error) { }
            public void OnCompleted() { }
        }
    }
}
