using System.Diagnostics;
using System.Globalization;
using System.Net;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Dgram.Rx;

namespace Dgram.Actors.Tests.Reliability;

/// <summary>
/// A sender stream: a plain socket bound to its source, sending stamped datagrams to its group out of
/// its interface at a fixed rate (paced by a timer). A datagram the kernel refuses (the interface is
/// away: the fault) is not counted as sent and its sequence number is used again; the multicast
/// interface is set again before the next try (a re-created interface has a new index).
/// </summary>
public sealed class PacedSender : IDisposable
{
    private readonly LossAccount _account;
    private readonly DatagramSocket _socket;
    private readonly string _ifname;
    private readonly IPEndPoint _destination;
    private readonly int _rate;
    private readonly CancellationTokenSource _stop = new();
    private Task? _run;
    private long _refused;
    private bool _interfaceStale;

    public PacedSender(LossAccount account, string name, LabFamily f, IPAddress source, string ifname, IPAddress group, int port, int ratePerSecond)
    {
        _account = account;
        Stream = account.AddStream(name);
        Name = name;
        _ifname = ifname;
        _destination = new IPEndPoint(group, port);
        _rate = ratePerSecond;
        _socket = LabNet.OpenSender(f, source, ifname);
    }

    public string Name { get; }
    public int Stream { get; }
    public long Sent => _account.SentCount(Stream);
    /// <summary>Sends the kernel refused (not counted as sent).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    public PacedSender Start()
    {
        _run = Task.Run(Run);
        return this;
    }

    private async Task Run()
    {
        byte[] payload = new byte[Stamp.Size + 44];
        long seq = 0;
        var clock = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(5));
        while (!_stop.IsCancellationRequested)
        {
            long due = clock.ElapsedMilliseconds * _rate / 1000;
            while (seq < due && !_stop.IsCancellationRequested)
            {
                if (_interfaceStale)
                {
                    try
                    {
                        _socket.SetMulticastInterface(_ifname);
                        _interfaceStale = false;
                    }
                    catch (DatagramSocketException)
                    {
                        Interlocked.Increment(ref _refused);
                        break; // still away: try again on the next tick
                    }
                }
                long at = LossAccount.Now();
                Stamp.Write(payload, Stream, seq + 1, at);
                SendResult r = _socket.SendTo(payload, _destination, TimeSpan.Zero);
                if (r.Status != SendStatus.Sent)
                {
                    Interlocked.Increment(ref _refused);
                    _interfaceStale = true;
                    break;
                }
                seq++;
                _account.Sent(Stream, seq, at);
            }
            try
            {
                await timer.WaitForNextTickAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public async Task StopAsync()
    {
        _stop.Cancel();
        if (_run is not null) await _run;
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _run?.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        _socket.Dispose();
        _stop.Dispose();
    }
}

/// <summary>
/// The status events of a socket, kept in order, with waits that end on the event (never on a fixed sleep).
/// Only the newest <see cref="Kept"/> events are kept (marks are absolute), so a long soak's own
/// bookkeeping does not grow with every fault and pass for a leak of the library.
/// </summary>
public sealed class StatusLog : IObserver<SocketStatus>
{
    /// <summary>
    /// Events kept; a wait looks only at events since a recent mark (one fault gives a socket at most about ten).
    /// Small enough to fill within a soak's first minute: at 1,024 a receiver's log (restart events carry their
    /// exceptions) can still be filling after 600 s, which the soak's heap trend would count as growth.
    /// </summary>
    public const int Kept = 64;

    private readonly object _lock = new();
    private readonly List<SocketStatus> _events = [];
    private int _dropped;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Where the log stands now: pass it to <see cref="WaitFor{T}"/> to look only at later events.</summary>
    public int Mark
    {
        get { lock (_lock) return _dropped + _events.Count; }
    }

    public IReadOnlyList<SocketStatus> Since(int mark)
    {
        lock (_lock) return _events.Skip(Math.Max(0, mark - _dropped)).ToList();
    }

    /// <summary>Waits for the socket to report <paramref name="change"/> of interface <paramref name="ifname"/> (one event per interface).</summary>
    public Task<IReadOnlyList<InterfaceChanged>> WaitForInterface(int from, string ifname, InterfaceChange change, TimeSpan timeout) =>
        WaitFor<InterfaceChanged>(from, 1, timeout, c => c.Interface == ifname && c.Change == change);

    public async Task<IReadOnlyList<T>> WaitFor<T>(int from, int count, TimeSpan timeout, Func<T, bool>? where = null) where T : SocketStatus
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                var found = _events.Skip(Math.Max(0, from - _dropped)).OfType<T>().Where(e => where is null || where(e)).ToList();
                if (found.Count >= count) return found;
                changed = _changed.Task;
            }
            TimeSpan left = timeout - clock.Elapsed;
            if (left <= TimeSpan.Zero || await Task.WhenAny(changed, Task.Delay(left)) != changed)
            {
                throw new TimeoutException($"waited {timeout.TotalSeconds:0.#} s for {count} {typeof(T).Name}; events since: "
                    + string.Join(", ", Since(from).Select(e => e.GetType().Name)));
            }
        }
    }

    public void OnNext(SocketStatus value)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            _events.Add(value);
            if (_events.Count > Kept)
            {
                _events.RemoveAt(0);
                _dropped++;
            }
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    public void OnError(Exception error) => OnNext(new SocketFailed("?", error));
    public void OnCompleted() { }
}

/// <summary>
/// A socket actor whose datagrams go through an Rx subscription into the loss account; its status
/// events are logged. Its drops: the subscription's overflow count and the socket's counters.
/// </summary>
public sealed class RxReceiver : IDisposable
{
    private IDisposable? _subscription, _statusSubscription;

    private RxReceiver(string name, SocketClient client, DatagramStreams streams)
    {
        Name = name;
        Client = client;
        Streams = streams;
    }

    public string Name { get; }
    public SocketClient Client { get; }
    public DatagramStreams Streams { get; }
    public SubscriberStatistics Statistics { get; } = new();
    public StatusLog Status { get; } = new();
    public int Port => ((IPEndPoint)Settings!.LocalEndPoint!).Port;
    public SocketSettings? Settings { get; private set; }

    /// <summary>Starts the socket actor, opens its streams and subscribes the account (before any membership, so nothing is missed).</summary>
    public static async Task<RxReceiver> StartAsync(IActorRefFactory system, LossAccount account, SocketSettings settings, int[] streams,
        SubscriberOptions? options = null, Action? beforeEach = null)
    {
        var client = await SocketClient.StartAsync(system, settings);
        var rx = new RxReceiver(settings.Name, client, await client.OpenStreamsAsync()) { Settings = settings };
        account.AddReceiver(settings.Name, rx.DropsAsync, streams);
        rx._statusSubscription = rx.Streams.Status.Subscribe(rx.Status);
        options = (options ?? new SubscriberOptions { Capacity = 1 << 15 }) with { Statistics = rx.Statistics };
        rx._subscription = rx.Streams.Datagrams(options).Subscribe(d =>
        {
            beforeEach?.Invoke(); // a test can hold the subscription here (its buffer then overflows)
            account.Received(settings.Name, d.Payload.Span);
        });
        return rx;
    }

    public async Task<ReceiverDrops> DropsAsync()
    {
        SocketState state = await Client.GetStateAsync();
        return new ReceiverDrops(Statistics.Dropped, state.Counters.KernelDrops, state.KernelQueueDrops, state.Counters.NoConsumerDrops);
    }

    /// <summary>The current incarnation (child of the supervisor the client holds).</summary>
    public Task<IActorRef> IncarnationAsync(ActorSystem system) =>
        system.ActorSelection(Client.Socket.Path / "*").ResolveOne(TimeSpan.FromSeconds(5));

    /// <summary>Runs an action on the actor's current socket (the test hook); answered once it ran.</summary>
    public Task OnSocketAsync(Action<DatagramSocket> action) =>
        Client.Socket.Ask<Dgram.Actors.Actors.TestHook>(new Dgram.Actors.Actors.TestHook(action), TimeSpan.FromSeconds(5));

    public void Dispose()
    {
        _subscription?.Dispose();
        _statusSubscription?.Dispose();
        Streams.Dispose();
    }
}

/// <summary>
/// How many sockets hold a membership, from the kernel: the Users column of /proc/net/igmp and
/// /proc/net/igmp6, and the include count of /proc/net/mcfilter(6). Read in three passes (the tables
/// can skip rows while others change them, see <see cref="KernelTables"/>): the largest count wins.
/// </summary>
public static class KernelUsers
{
    public static int Group(LabFamily f, int ifindex, IPAddress group)
    {
        int best = 0;
        for (int pass = 0; pass < 3; pass++) best = Math.Max(best, f.IsV6 ? Igmp6(ifindex, group) : Igmp(ifindex, group));
        return best;
    }

    public static int Includes(LabFamily f, int ifindex, IPAddress group, IPAddress source) =>
        KernelTables.SourceFilter(f, ifindex, group, source)?.Include ?? 0;

    private static int Igmp(int ifindex, IPAddress group)
    {
        int current = -1;
        byte[] g = group.GetAddressBytes();
        string hex = BitConverter.ToUInt32(g).ToString("X8", CultureInfo.InvariantCulture); // host order, as igmp prints it
        foreach (string line in File.ReadAllLines("/proc/net/igmp").Skip(1))
        {
            if (line.Length == 0) continue;
            if (!char.IsWhiteSpace(line[0]))
            {
                current = int.Parse(line.Split('\t', ' ')[0], CultureInfo.InvariantCulture);
                continue;
            }
            string[] f = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (current == ifindex && f.Length >= 2 && f[0] == hex) return int.Parse(f[1], CultureInfo.InvariantCulture);
        }
        return 0;
    }

    private static int Igmp6(int ifindex, IPAddress group)
    {
        string hex = Convert.ToHexStringLower(group.GetAddressBytes());
        foreach (string line in File.ReadAllLines("/proc/net/igmp6"))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 4 && int.Parse(f[0], CultureInfo.InvariantCulture) == ifindex && f[2] == hex) return int.Parse(f[3], CultureInfo.InvariantCulture);
        }
        return 0;
    }
}
