using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;

namespace Dgram.Actors.Tests.Reliability;

/// <summary>
/// The stamp every test datagram carries: stream id (4 bytes), sequence number (8, from 1, no gaps
/// among datagrams the kernel took), send time (8, <see cref="Stopwatch.GetTimestamp"/>), big-endian.
/// </summary>
public static class Stamp
{
    public const int Size = 20;

    public static void Write(Span<byte> payload, int stream, long sequence, long sentAt)
    {
        BinaryPrimitives.WriteInt32BigEndian(payload, stream);
        BinaryPrimitives.WriteInt64BigEndian(payload[4..], sequence);
        BinaryPrimitives.WriteInt64BigEndian(payload[12..], sentAt);
    }

    public static bool TryRead(ReadOnlySpan<byte> payload, out int stream, out long sequence)
    {
        stream = 0;
        sequence = 0;
        if (payload.Length < Size) return false;
        stream = BinaryPrimitives.ReadInt32BigEndian(payload);
        sequence = BinaryPrimitives.ReadInt64BigEndian(payload[4..]);
        return true;
    }
}

/// <summary>Drops one receiver's counters can explain, read at the end (see <see cref="LossAccount"/>).</summary>
/// <param name="Subscriber">Its Rx subscription's overflow drops (<c>SubscriberStatistics.Dropped</c>).</param>
/// <param name="KernelOverflow">SO_RXQ_OVFL, summed over incarnations (<c>Counters.KernelDrops</c>; reported on the next datagram queued after the drops).</param>
/// <param name="KernelQueue">The current socket's <c>drops</c> column of /proc/net/udp(6) (<c>SocketState.KernelQueueDrops</c>; forgets earlier incarnations).</param>
/// <param name="NoConsumer">Read while nobody consumed (<c>Counters.NoConsumerDrops</c>).</param>
public readonly record struct ReceiverDrops(long Subscriber, long KernelOverflow, long KernelQueue, long NoConsumer)
{
    /// <summary>
    /// SO_RXQ_OVFL and the drops column count the same kernel drops of a socket: the larger of the two
    /// (the first lags until a datagram follows the drops, the second forgets sockets replaced by a restart).
    /// </summary>
    public long Kernel => Math.Max(KernelOverflow, Math.Max(0, KernelQueue));

    public long Total => Subscriber + Kernel + NoConsumer;

    /// <summary>
    /// What was counted since <paramref name="earlier"/>. The /proc column belongs to the current socket
    /// only: when it went down, a restart replaced the socket and the new one counts from 0.
    /// </summary>
    public ReceiverDrops Since(ReceiverDrops earlier)
    {
        long queue = Math.Max(0, KernelQueue), queueBefore = Math.Max(0, earlier.KernelQueue);
        return new ReceiverDrops(Subscriber - earlier.Subscriber, KernelOverflow - earlier.KernelOverflow,
            queue >= queueBefore ? queue - queueBefore : queue, NoConsumer - earlier.NoConsumer);
    }
}

/// <summary>Drops below the sockets, counted in this network namespace (and softnet, which is per CPU for the whole machine).</summary>
/// <param name="Backlog">/proc/net/softnet_stat, column 2 (backlog full), summed over CPUs.</param>
/// <param name="Interfaces">rx_drop + tx_drop of the watched interfaces in /proc/net/dev (inside the namespace, not /sys).</param>
public readonly record struct NetworkDrops(long Backlog, long Interfaces)
{
    public long Total => Backlog + Interfaces;
    public static NetworkDrops operator -(NetworkDrops a, NetworkDrops b) => new(a.Backlog - b.Backlog, a.Interfaces - b.Interfaces);
    public static NetworkDrops operator +(NetworkDrops a, NetworkDrops b) => new(a.Backlog + b.Backlog, a.Interfaces + b.Interfaces);
}

/// <summary>
/// Loss accounting for fault tests (issue 8, parts 3 and 4; issue 12, item 8). Senders stamp each datagram
/// (<see cref="Stamp"/>) and record it once the kernel took it; receivers record what arrived; the test
/// opens a window (<see cref="BeginAsync(string, WindowKind, Func{string, int, bool})"/>) just before it
/// injects a fault and closes it when the kernel or the socket's events show recovery and delivery has
/// resumed (<see cref="AwaitDeliverySinceAsync"/>).
/// </summary>
/// <remarks>
/// <para>
/// A window is bounded by sequence markers, not by time: opening it notes how many datagrams each
/// stream had sent, closing it notes it again, so a datagram is inside exactly when its sequence
/// number lies between the two. Every drop counter (each receiver's, and the network's) is read at
/// both boundaries, so each window knows the drops counted inside it.
/// </para>
/// <para>
/// At the end every datagram a receiver lost is attributed to the window it was sent in (one that
/// applies to that receiver and stream): inside a <see cref="WindowKind.Fault"/> window the fault
/// explains it; inside a <see cref="WindowKind.Counted"/> window only that window's own counted drops
/// (the receiver's and the network's) can, and any excess is unexplained; outside every window a loss
/// is unexplained, whatever was counted elsewhere.
/// </para>
/// <para>
/// Storage is preallocated for <c>expectedPerStream</c> datagrams per stream and, at the first window,
/// for <c>expectedWindows</c> windows, so a soak's heap measurement does not see the account grow (it
/// grows past that, by doubling). A window then retains only its name and its <c>applies</c> delegate.
/// </para>
/// </remarks>
public sealed class LossAccount
{
    private readonly object _lock = new();
    private readonly List<StreamRecord> _streams = [];
    private readonly Dictionary<string, ReceiverRecord> _receivers = [];
    private readonly List<FaultWindow> _windows;
    private readonly Func<NetworkDrops> _network;
    private readonly NetworkDrops _networkBaseline;
    private readonly int _expectedPerStream;
    private readonly int _expectedWindows;
    /// <summary>Windows made ahead, at the first <see cref="BeginAsync(string, WindowKind, Func{string, int, bool})"/>; <see cref="_windows"/> holds those in use.</summary>
    private readonly Stack<FaultWindow> _spareWindows = new();
    private readonly Func<string, int> _receiverIndex;
    private readonly object _signalLock = new();
    /// <summary>Made by a waiter, completed by the next arrival (nothing is allocated per datagram when nobody waits).</summary>
    private TaskCompletionSource? _arrival;

    /// <summary>An account whose network drops are the softnet backlog and the watched interfaces' counters.</summary>
    public LossAccount(IEnumerable<string> watchedInterfaces, int expectedPerStream = 4096, int expectedWindows = 16)
        : this(new NetworkCounters(watchedInterfaces).Read, expectedPerStream, expectedWindows)
    {
    }

    /// <summary>An account that reads the network drops from <paramref name="network"/> (monotonic counts).</summary>
    public LossAccount(Func<NetworkDrops> network, int expectedPerStream = 4096, int expectedWindows = 16)
    {
        _expectedPerStream = expectedPerStream;
        _expectedWindows = expectedWindows;
        _windows = new List<FaultWindow>(expectedWindows);
        _receiverIndex = name =>
        {
            lock (_lock) return _receivers.TryGetValue(name, out ReceiverRecord? r) ? r.Index : -1;
        };
        _network = network;
        _networkBaseline = network();
    }

    public static long Now() => Stopwatch.GetTimestamp();

    /// <summary>Adds a stream (one sender); returns its id for <see cref="Stamp"/>.</summary>
    public int AddStream(string name)
    {
        lock (_lock)
        {
            _streams.Add(new StreamRecord(name, _expectedPerStream));
            return _streams.Count - 1;
        }
    }

    /// <summary>Adds a receiver, the streams it must get, and where its drops are counted.</summary>
    public void AddReceiver(string name, Func<Task<ReceiverDrops>> drops, params int[] streams)
    {
        lock (_lock)
        {
            var r = new ReceiverRecord(name, _receivers.Count, drops);
            foreach (int s in streams) r.Streams[s] = new Arrivals(_expectedPerStream);
            _receivers.Add(name, r);
        }
    }

    /// <summary>The kernel took datagram <paramref name="sequence"/> (1, 2, … in order) of a stream, stamped at <paramref name="sentAt"/>.</summary>
    public void Sent(int stream, long sequence, long sentAt)
    {
        StreamRecord s;
        lock (_lock) s = _streams[stream];
        s.Add(sequence, sentAt);
    }

    public long SentCount(int stream)
    {
        lock (_lock) return _streams[stream].Count;
    }

    /// <summary>A receiver got a datagram (its subscription's thread; one per receiver). Unstamped or foreign ones are ignored.</summary>
    public void Received(string receiver, ReadOnlySpan<byte> payload)
    {
        if (!Stamp.TryRead(payload, out int stream, out long sequence)) return;
        ReceiverRecord r;
        lock (_lock) r = _receivers[receiver];
        if (r.Streams.TryGetValue(stream, out Arrivals? a)) a.Add(sequence);
        else Interlocked.Increment(ref r.Foreign);
        if (Volatile.Read(ref _arrival) is not null)
        {
            TaskCompletionSource? waiting;
            lock (_signalLock)
            {
                waiting = _arrival;
                _arrival = null;
            }
            waiting?.TrySetResult();
        }
    }

    /// <summary>Completes at the next arrival at any receiver.</summary>
    private Task NextArrival()
    {
        lock (_signalLock) return (_arrival ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
    }

    /// <summary>Datagrams a receiver got that no stream of this account sent (unstamped, or another stream's).</summary>
    public long ForeignCount(string receiver)
    {
        lock (_lock) return Interlocked.Read(ref _receivers[receiver].Foreign);
    }

    public long ReceivedCount(string receiver, int stream)
    {
        lock (_lock) return _receivers[receiver].Streams[stream].Count;
    }

    /// <summary>
    /// A window begins now, for the receivers and streams <paramref name="applies"/> says its fault can
    /// disturb: call just before injecting the fault. The drop counters are read first and the sequence
    /// markers last, so nothing the fault touches is sent before the window's first datagram.
    /// </summary>
    public async Task<FaultWindow> BeginAsync(string name, WindowKind kind, Func<string, int, bool> applies)
    {
        long[] start = SentCounts();
        // What was sent before the window gets its chance to arrive before the fault is injected: a datagram
        // still in the receiver's kernel queue when its socket is destroyed is lost by the fault, yet would count
        // as sent outside the window (seen: the last datagram before a DisposeSocket, not yet read by the engine).
        // Bounded and not an error: one that does not arrive was lost before the fault, and stays unexplained.
        var before = Receivers()
            .SelectMany(r => r.Streams.Where(kv => applies(r.Name, kv.Key) && start[kv.Key] > 0).Select(kv => (r.Name, Stream: kv.Key, Arrivals: kv.Value, Last: start[kv.Key]))).ToList();
        try
        {
            await AwaitAllAsync(before, t => t.Arrivals.Highest >= t.Last, TimeSpan.FromMilliseconds(500), _ => "");
        }
        catch (TimeoutException)
        {
        }
        ReceiverDrops[] drops = await ReadDropsAsync();
        NetworkDrops network = _network();
        FaultWindow w;
        lock (_lock)
        {
            if (_windows.Count == 0 && _spareWindows.Count == 0)
            {
                for (int i = 0; i < _expectedWindows; i++) _spareWindows.Push(new FaultWindow(_streams.Count, _receivers.Count, _receiverIndex));
            }
            w = _spareWindows.TryPop(out FaultWindow? spare) ? spare : new FaultWindow(_streams.Count, _receivers.Count, _receiverIndex);
            w.Open(name, kind, applies, start, drops, network);
            _windows.Add(w);
        }
        return w;
    }

    /// <summary>A window whose fault can disturb every receiver and stream.</summary>
    public Task<FaultWindow> BeginAsync(string name, WindowKind kind = WindowKind.Fault) => BeginAsync(name, kind, (_, _) => true);

    /// <summary>
    /// Closes a window: call when the kernel tables or the socket's events show recovery and delivery has
    /// resumed (<see cref="AwaitDeliverySinceAsync"/>), not later (and a <see cref="WindowKind.Counted"/>
    /// one once what was sent inside has arrived or been counted). The markers are taken first, then the
    /// counters, so a drop counted for a datagram still in flight at the marker is still this window's.
    /// </summary>
    public async Task EndAsync(FaultWindow w)
    {
        long[] sent = SentCounts();
        long end = Now();
        ReceiverDrops[] drops = await ReadDropsAsync();
        w.Close(end, sent, drops, _network());
    }

    private long[] SentCounts()
    {
        lock (_lock) return [.. _streams.Select(s => s.Count)];
    }

    /// <summary>Every receiver's drop counters, by <see cref="ReceiverRecord.Index"/>.</summary>
    private async Task<ReceiverDrops[]> ReadDropsAsync()
    {
        ReceiverRecord[] receivers = Receivers();
        var drops = new ReceiverDrops[receivers.Length];
        foreach (ReceiverRecord r in receivers) drops[r.Index] = await r.Drops();
        return drops;
    }

    public int WindowCount
    {
        get { lock (_lock) return _windows.Count; }
    }

    /// <summary>
    /// Waits (bounded) until every receiver has every stream's last datagram, or its arrivals plus its
    /// counted drops reach what was sent: what is still in flight or queued has arrived.
    /// </summary>
    public async Task DrainAsync(TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < bound)
        {
            bool done = true;
            foreach (ReceiverRecord r in Receivers())
            {
                bool allLast = r.Streams.All(kv => kv.Value.Has(SentCount(kv.Key)));
                if (allLast) continue;
                long sent = r.Streams.Keys.Sum(SentCount), got = r.Streams.Values.Sum(a => a.Distinct);
                if (got + (await r.Drops()).Total >= sent) continue;
                done = false;
                break;
            }
            if (done) return;
            // The next arrival, or a fresh look at the drop counters (they change without arrivals).
            try
            {
                await NextArrival().WaitAsync(TimeSpan.FromMilliseconds(50));
            }
            catch (TimeoutException)
            {
            }
        }
    }

    /// <summary>Waits until each listed receiver has at least <paramref name="more"/> new datagrams of each of its streams.</summary>
    public Task AwaitFlowAsync(int more, TimeSpan bound, params string[] receivers)
    {
        var targets = Receivers().Where(r => receivers.Length == 0 || receivers.Contains(r.Name))
            .SelectMany(r => r.Streams.Select(kv => (r.Name, Stream: kv.Key, Arrivals: kv.Value, Goal: kv.Value.Count + more))).ToList();
        return AwaitAllAsync(targets, t => t.Arrivals.Count >= t.Goal, bound,
            t => $"no flow: receiver {t.Name} has {t.Arrivals.Count} of stream {StreamName(t.Stream)} (wanted {t.Goal}; sent {SentCount(t.Stream)})");
    }

    /// <summary>
    /// Waits until delivery has resumed for <paramref name="window"/>: every receiver it applies to has, on
    /// every stream of its own the window applies to, a datagram sent after this call (sequence above the
    /// count sent now). Call after the kernel tables and the socket's events show recovery, then close the
    /// window: the kernel's delivery can trail its tables (after a link comes up, IPv6 lost the first
    /// datagram sent once the memberships were back), and what is lost before delivery resumes is the
    /// fault's. Ends at the first such datagram, so the window closes no later than needed.
    /// </summary>
    public Task AwaitDeliverySinceAsync(FaultWindow window, TimeSpan bound)
    {
        long[] mark = SentCounts();
        var targets = Receivers()
            .SelectMany(r => r.Streams.Where(kv => window.Applies(r.Name, kv.Key)).Select(kv => (r.Name, Stream: kv.Key, Arrivals: kv.Value, Mark: mark[kv.Key]))).ToList();
        return AwaitAllAsync(targets, t => t.Arrivals.Highest > t.Mark, bound,
            t => $"delivery did not resume after window '{window.Name}': receiver {t.Name} got nothing of stream {StreamName(t.Stream)} "
                + $"past #{t.Mark} (highest #{t.Arrivals.Highest}; sent {SentCount(t.Stream)})");
    }

    /// <summary>Waits, arrival by arrival, until <paramref name="done"/> holds for every target; a timeout names the first that lags.</summary>
    private async Task AwaitAllAsync<T>(List<T> targets, Func<T, bool> done, TimeSpan bound, Func<T, string> describe)
    {
        var clock = Stopwatch.StartNew();
        while (!targets.All(done))
        {
            Task next = NextArrival();
            if (targets.All(done)) return;
            TimeSpan left = bound - clock.Elapsed;
            try
            {
                if (left <= TimeSpan.Zero) throw new TimeoutException();
                await next.WaitAsync(left);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException(describe(targets.First(t => !done(t))));
            }
        }
    }

    private string StreamName(int stream)
    {
        lock (_lock) return _streams[stream].Name;
    }

    private ReceiverRecord[] Receivers()
    {
        lock (_lock) return [.. _receivers.Values];
    }

    /// <summary>
    /// Attributes every datagram a receiver lost to the window it was sent in, and sets each counted
    /// window's losses against the drops counted inside it; loss outside every window is unexplained.
    /// </summary>
    public async Task<LossReport> ReportAsync()
    {
        NetworkDrops network = _network() - _networkBaseline;
        FaultWindow[] windows;
        lock (_lock) windows = [.. _windows];
        // Open windows explain nothing: a fault that never recovered is a failure of its own.
        FaultWindow[] closed = [.. windows.Where(w => w.Closed)];
        var lost = new Dictionary<(FaultWindow, string), long>();

        var streams = new List<StreamFigures>();
        var receivers = new List<ReceiverFigures>();
        var examples = new List<string>();
        foreach (ReceiverRecord r in Receivers())
        {
            long missingAll = 0, missingOutside = 0;
            foreach (var (id, arrivals) in r.Streams.OrderBy(kv => kv.Key))
            {
                StreamRecord s;
                lock (_lock) s = _streams[id];
                long sent = s.Count, inWindow = 0, outsideWindow = 0;
                FaultWindow[] applicable = [.. closed.Where(w => w.Applies(r.Name, id))];
                for (long seq = 1; seq <= sent; seq++)
                {
                    if (arrivals.Has(seq)) continue;
                    // A fault window explains its own losses; a counted window only lends them its drops.
                    FaultWindow? w = applicable.FirstOrDefault(w => w.Kind == WindowKind.Fault && w.Covers(id, seq))
                        ?? applicable.FirstOrDefault(w => w.Covers(id, seq));
                    if (w is not null)
                    {
                        inWindow++;
                        lost[(w, r.Name)] = lost.GetValueOrDefault((w, r.Name)) + 1;
                    }
                    else
                    {
                        outsideWindow++;
                        if (examples.Count < 20) examples.Add($"{r.Name} {s.Name} #{seq}: {Nearest(applicable, id, seq, arrivals.Has(seq - 1), arrivals.Has(seq + 1))}");
                    }
                }
                missingAll += inWindow + outsideWindow;
                missingOutside += outsideWindow;
                streams.Add(new StreamFigures(r.Name, s.Name, sent, arrivals.Distinct, inWindow, outsideWindow, arrivals.Duplicates, arrivals.Reordered));
            }
            long unexplained = missingOutside;
            foreach (FaultWindow w in closed.Where(w => w.Kind == WindowKind.Counted))
            {
                unexplained += Math.Max(0, lost.GetValueOrDefault((w, r.Name)) - w.CountedFor(r.Name));
            }
            receivers.Add(new ReceiverFigures(r.Name, missingAll, missingOutside, await r.Drops(), unexplained));
        }
        var windowFigures = closed.Select(w =>
        {
            string[] names = [.. receivers.Select(r => r.Receiver)];
            long windowLost = names.Sum(n => lost.GetValueOrDefault((w, n)));
            long counted = names.Sum(n => w.DropsDuring(n).Total);
            long excess = w.Kind == WindowKind.Counted ? names.Sum(n => Math.Max(0, lost.GetValueOrDefault((w, n)) - w.CountedFor(n))) : 0;
            return new WindowFigures(w.Name, w.Kind, w.Duration, windowLost, counted, w.NetworkDuring, excess);
        }).ToList();
        return new LossReport(streams, receivers, network, windowFigures, windows.Where(w => !w.Closed).Select(w => w.Name).ToList(), examples);
    }

    /// <summary>Where a datagram lost outside every window was sent, relative to the nearest window in sequence numbers (for the report).</summary>
    private static string Nearest(FaultWindow[] windows, int stream, long sequence, bool previousArrived, bool nextArrived)
    {
        string neighbours = $"previous {(previousArrived ? "arrived" : "lost")}, next {(nextArrived ? "arrived" : "lost")}";
        FaultWindow? w = windows.MinBy(w => w.Distance(stream, sequence));
        if (w is null) return "no window applies; " + neighbours;
        var (first, last) = w.Range(stream);
        string where = sequence < first ? $"{first - sequence} before" : $"{sequence - last} after";
        return $"sent {where} window '{w.Name}' (#{first}-#{last}); {neighbours}";
    }

    private sealed class StreamRecord(string name, int capacity)
    {
        private long[] _sentAt = new long[capacity];
        private long _count;

        public string Name { get; } = name;
        public long Count => Volatile.Read(ref _count);

        public void Add(long sequence, long sentAt)
        {
            lock (this)
            {
                if (sequence != _count + 1) throw new InvalidOperationException($"stream {Name}: sequence {sequence} after {_count}");
                if (_count == _sentAt.Length) Array.Resize(ref _sentAt, _sentAt.Length * 2);
                _sentAt[_count] = sentAt;
                Volatile.Write(ref _count, _count + 1);
            }
        }

        public long SentAt(long sequence)
        {
            lock (this) return _sentAt[sequence - 1];
        }
    }

    /// <summary>One receiver's arrivals of one stream: a bit per sequence number, duplicates and out-of-order arrivals.</summary>
    private sealed class Arrivals(int capacity)
    {
        private ulong[] _bits = new ulong[capacity / 64 + 1];
        private long _last, _count, _distinct;

        public long Duplicates, Reordered;
        public long Count => Volatile.Read(ref _count);
        public long Distinct => Volatile.Read(ref _distinct);
        /// <summary>The highest sequence number that arrived (0: none).</summary>
        public long Highest => Volatile.Read(ref _last);

        public void Add(long sequence)
        {
            lock (this)
            {
                long word = sequence >> 6;
                if (word >= _bits.Length) Array.Resize(ref _bits, (int)Math.Max(_bits.Length * 2, word + 1));
                ulong bit = 1UL << (int)(sequence & 63);
                if ((_bits[word] & bit) != 0) Duplicates++;
                else
                {
                    _bits[word] |= bit;
                    _distinct++;
                }
                if (sequence < _last) Reordered++;
                Volatile.Write(ref _last, Math.Max(_last, sequence));
                _count++;
            }
        }

        public bool Has(long sequence)
        {
            if (sequence <= 0) return true;
            lock (this)
            {
                long word = sequence >> 6;
                return word < _bits.Length && (_bits[word] & (1UL << (int)(sequence & 63))) != 0;
            }
        }
    }

    private sealed class ReceiverRecord(string name, int index, Func<Task<ReceiverDrops>> drops)
    {
        public string Name { get; } = name;
        /// <summary>The order it was added in: its slot in a window's drop counts.</summary>
        public int Index { get; } = index;
        public Func<Task<ReceiverDrops>> Drops { get; } = drops;
        public Dictionary<int, Arrivals> Streams { get; } = [];
        public long Foreign;
    }
}

/// <summary>
/// Reads drop counters below the sockets. Interfaces come and go (a deleted one's counters vanish, a
/// re-created one starts at 0), so each interface's counter is accumulated as a monotonic sum.
/// </summary>
internal sealed class NetworkCounters(IEnumerable<string> interfaces)
{
    private readonly string[] _interfaces = [.. interfaces];
    private readonly Dictionary<string, long> _last = [];
    private long _accumulated;

    public NetworkDrops Read()
    {
        lock (this)
        {
            foreach (string line in File.ReadAllLines("/proc/net/dev").Skip(2))
            {
                int colon = line.IndexOf(':');
                if (colon < 0) continue;
                string name = line[..colon].Trim();
                if (!_interfaces.Contains(name)) continue;
                string[] f = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                long drops = long.Parse(f[3], CultureInfo.InvariantCulture) + long.Parse(f[11], CultureInfo.InvariantCulture);
                long last = _last.GetValueOrDefault(name);
                _accumulated += drops >= last ? drops - last : drops; // re-created: counting from 0 again
                _last[name] = drops;
            }
            return new NetworkDrops(Backlog(), _accumulated);
        }
    }

    private static long Backlog()
    {
        long sum = 0;
        foreach (string line in File.ReadAllLines("/proc/net/softnet_stat"))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length > 1) sum += long.Parse(f[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }
        return sum;
    }
}
