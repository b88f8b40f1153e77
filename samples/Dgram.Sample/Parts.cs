using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Dgram.Actors.Hosting;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Rx;
using Microsoft.Extensions.Logging;

namespace Dgram.Sample;

/// <summary>Payload: 8-byte sequence number, 8-byte send time (ms since boot), big-endian.</summary>
internal static class Payload
{
    public const int Size = 16;
    public static long? Sequence(ReadOnlySpan<byte> p) => p.Length >= Size ? BinaryPrimitives.ReadInt64BigEndian(p) : null;
}

/// <summary>
/// One publisher: a plain socket bound to its source, sending to its group out of its interface at a fixed rate. With
/// sites (<paramref name="netns"/>) the socket is made, and its interface looked up by name, in site A's publisher namespace.
/// </summary>
internal sealed class Publisher(IPAddress source, string ifname, IPAddress group, int port, int rate, NetNamespace? netns = null)
{
    private readonly NetNamespace _netns = netns ?? NetNamespace.Current;
    private readonly DatagramSocket _socket = (netns ?? NetNamespace.Current).Run(() => Open(source));
    private long _sent, _failed, _lastSequence, _attempting;
    private volatile bool _interfaceChanged = true;

    public IPAddress Source { get; } = source;
    public IPAddress Group { get; } = group;
    public int Port { get; } = port;
    public long Sent => Interlocked.Read(ref _sent);
    public long Failed => Interlocked.Read(ref _failed);
    /// <summary>The last datagram the kernel took.</summary>
    public long LastSequence => Interlocked.Read(ref _lastSequence);
    /// <summary>The last datagram whose send may have begun: at most one beyond <see cref="LastSequence"/>.</summary>
    public long Attempting => Interlocked.Read(ref _attempting);

    private static DatagramSocket Open(IPAddress source)
    {
        var s = DatagramSocket.Create(AddressFamily.InterNetwork);
        s.Bind(new IPEndPoint(source, 0));
        return s;
    }

    /// <summary>The interface was re-created: its index changed, so set the multicast interface again.</summary>
    public void InterfaceChanged() => _interfaceChanged = true;

    public async Task Run(CancellationToken stop)
    {
        var destination = new IPEndPoint(Group, Port);
        byte[] payload = new byte[Payload.Size];
        long seq = 0;
        var clock = Stopwatch.StartNew();
        while (!stop.IsCancellationRequested)
        {
            long due = clock.ElapsedMilliseconds * rate / 1000;
            while (seq < due && !stop.IsCancellationRequested)
            {
                if (_interfaceChanged)
                {
                    try
                    {
                        _netns.Run(() => _socket.SetMulticastInterface(ifname));
                        _interfaceChanged = false;
                    }
                    catch (DatagramSocketException)
                    {
                        // The interface is away (the fault): count the send as failed below and retry.
                    }
                }
                BinaryPrimitives.WriteInt64BigEndian(payload, seq + 1);
                BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(8), Environment.TickCount64);
                Interlocked.Exchange(ref _attempting, seq + 1);
                SendResult r = _interfaceChanged ? default : _socket.SendTo(payload, destination, TimeSpan.Zero);
                if (r.Status == SendStatus.Sent)
                {
                    seq++;
                    Interlocked.Exchange(ref _lastSequence, seq);
                    Interlocked.Increment(ref _sent);
                }
                else
                {
                    Interlocked.Increment(ref _failed);
                    _interfaceChanged = true;
                    break; // try again on the next tick
                }
            }
            await Task.Delay(5, CancellationToken.None);
        }
        _socket.Dispose();
    }

    /// <summary>A datagram without a sequence number (the trackers and the loss rule skip it): does the path carry anything yet?</summary>
    public void SendWarmUp()
    {
        if (_interfaceChanged) _netns.Run(() => _socket.SetMulticastInterface(ifname));
        _interfaceChanged = false;
        _socket.SendTo(new byte[] { 0 }, new IPEndPoint(Group, Port), TimeSpan.Zero);
    }
}

/// <summary>
/// The sequence numbers that arrived at one socket, per publisher source (see <see cref="LossRule"/>). Across sites
/// every datagram comes from a bridge node's address: <paramref name="publisher"/> is then the one publisher of the
/// socket's group.
/// </summary>
internal sealed class StreamTracker(string socket, IPAddress? publisher = null)
{
    private readonly ConcurrentDictionary<IPAddress, Arrivals> _sources = new();
    private long _any;

    public string Socket { get; } = socket;
    public long Received => _sources.Values.Sum(a => a.Count);
    public long Duplicates => _sources.Values.Sum(a => a.Duplicates);
    /// <summary>Whether anything arrived, warm-up datagrams included.</summary>
    public bool Reached => Interlocked.Read(ref _any) > 0;
    public Arrivals From(IPAddress source) => _sources.GetOrAdd(source, _ => new Arrivals());

    /// <summary>Called on this subscription's delivery thread (serialised).</summary>
    public void OnDatagram(Datagram d)
    {
        Interlocked.Increment(ref _any);
        if ((publisher ?? d.SourceAddress) is not { } address || Payload.Sequence(d.Payload.Span) is not long seq) return;
        From(address).Add(seq);
    }
}

/// <summary>
/// The fault windows (see <see cref="FaultWindow"/>: bounded by each publisher's sequence numbers when
/// the fault began and when its recovery was observed) and the sockets' status events that close them.
/// </summary>
internal sealed class FaultLog(IReadOnlyList<Publisher> publishers)
{
    private readonly object _lock = new();
    private readonly List<FaultWindow> _windows = [];
    private readonly List<(string Socket, SocketStatus Status)> _events = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<FaultWindow> Windows
    {
        get { lock (_lock) return [.. _windows]; }
    }

    public bool AllRestored => Windows.All(w => w.Closed);

    public IReadOnlyList<string> Describe()
    {
        string[] names = [.. publishers.Select(p => p.Source.ToString())];
        return [.. Windows.Select(w => w.Describe(names))];
    }

    /// <summary>
    /// A fault on <paramref name="socket"/> (null: every socket) begins now: call just before injecting it.
    /// Its first datagram per publisher is the one after the last the kernel took, so a send under way
    /// counts as inside; or, for a fault on a path that holds datagrams (the bridge), the one after
    /// <paramref name="delivered"/>, the last each publisher's streams had received.
    /// </summary>
    public FaultWindow Begin(string name, string? socket, long[]? delivered = null)
    {
        var w = new FaultWindow(name, socket, delivered ?? [.. publishers.Select(p => p.LastSequence)]);
        lock (_lock) _windows.Add(w);
        return w;
    }

    /// <summary>Recovery was observed: the last datagram each publisher may have begun to send is the window's last.</summary>
    public void End(FaultWindow w) => w.Close([.. publishers.Select(p => p.Attempting)]);

    /// <summary>Where the event log stands now (for <see cref="WaitFor"/>).</summary>
    public int Mark
    {
        get { lock (_lock) return _events.Count; }
    }

    public void OnStatus(string socket, SocketStatus status)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            _events.Add((socket, status));
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>Waits until the events since <paramref name="mark"/> satisfy <paramref name="done"/>; false when the bound passed first.</summary>
    public async Task<bool> WaitFor(int mark, Func<IReadOnlyList<(string Socket, SocketStatus Status)>, bool> done, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (done(_events.Skip(mark).ToList())) return true;
                changed = _changed.Task;
            }
            TimeSpan left = bound - clock.Elapsed;
            if (left <= TimeSpan.Zero || await Task.WhenAny(changed, Task.Delay(left)) != changed) return false;
        }
    }
}

/// <summary>
/// The two faults. Each window opens just before the fault and closes when its recovery is observed:
/// the socket's events, then (in the lab) the memberships in the kernel tables. A recovery not seen
/// within <see cref="Recovery"/> leaves the window open, which explains nothing and fails the run.
/// </summary>
internal static class Faults
{
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(10);

    public static async Task KillIncarnation(ActorSystem system, DgramSocketRegistry sockets, FaultLog faults, bool lab, ILogger log)
    {
        IActorRef incarnation = await system.ActorSelection(sockets.Get("ssm-rx").Socket.Path / "*").ResolveOne(TimeSpan.FromSeconds(5));
        int mark = faults.Mark;
        FaultWindow window = faults.Begin("kill ssm-rx incarnation", "ssm-rx");
        // Intended: the supervisor's warning that follows is the recovery this sample shows, not a failure.
        log.LogInformation("Fault injected on purpose: killing the ssm-rx incarnation {Incarnation}", incarnation.Path.Name);
        incarnation.Tell(Kill.Instance);
        if (!await faults.WaitFor(mark, events => events.Any(e => e.Socket == "ssm-rx" && e.Status is SocketRestored), Recovery)) return;
        if (lab && !await KernelCheck.WaitForMemberships(Recovery)) return;
        faults.End(window);
    }

    public static async Task DeleteAndRecreateInterface(DgramSocketRegistry sockets, FaultLog faults, IEnumerable<Publisher> publishers, ILogger log)
    {
        var memberships = new Dictionary<string, int>();
        foreach (string name in sockets.Names) memberships[name] = (await sockets.Get(name).GetStateAsync()).Memberships.Count;
        FaultWindow window = faults.Begin("delete and re-create lab0a", socket: null);
        log.LogInformation("Fault injected on purpose: deleting lab0a, the interface every subscriber joined on");
        LabInterface.Delete();
        await Task.Delay(500); // the interface stays away for a while, as a real outage would
        int mark = faults.Mark;
        LabInterface.Create();
        foreach (Publisher p in publishers) p.InterfaceChanged();
        bool Restored(IReadOnlyList<(string Socket, SocketStatus Status)> events) =>
            memberships.All(m => events.Count(e => e.Socket == m.Key && e.Status is MembershipRestored) >= m.Value);
        if (!await faults.WaitFor(mark, Restored, Recovery)) return;
        if (!await KernelCheck.WaitForMemberships(Recovery)) return;
        faults.End(window);
    }
}

/// <summary>The sample's lab interface fault: delete lab0a (and its peer lab0b) and re-create it as lab/lab.sh did.</summary>
internal static class LabInterface
{
    public static void Delete() => Ip("link", "del", "lab0a");

    public static void Create()
    {
        Ip("link", "add", "lab0a", "type", "veth", "peer", "name", "lab0b");
        foreach (string dev in new[] { "lab0a", "lab0b" })
        {
            File.WriteAllText($"/proc/sys/net/ipv4/conf/{dev}/accept_local", "1");
            File.WriteAllText($"/proc/sys/net/ipv4/conf/{dev}/rp_filter", "0");
            File.WriteAllText($"/proc/sys/net/ipv6/conf/{dev}/accept_dad", "0");
        }
        Ip("addr", "add", "198.51.100.1/24", "dev", "lab0a");
        foreach (string a in new[] { "198.51.100.2/24", "198.51.100.3/24", "198.51.100.4/24" }) Ip("addr", "add", a, "dev", "lab0b");
        Ip("-6", "addr", "add", "fd00:d9a::1/64", "dev", "lab0a", "nodad");
        foreach (string a in new[] { "fd00:d9a::4/64", "fd00:d9a::3/64", "fd00:d9a::2/64" }) Ip("-6", "addr", "add", a, "dev", "lab0b", "nodad");
        Ip("link", "set", "lab0a", "up");
        Ip("link", "set", "lab0b", "up");
    }

    private static void Ip(params string[] args)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardError = true };
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"ip {string.Join(' ', args)}: {err.Trim()}");
    }
}

/// <summary>Reads /proc: both groups on lab0a, and the source-specific group's two include filters.</summary>
internal static class KernelCheck
{
    private static readonly IPAddress Asm = IPAddress.Parse("239.255.10.1"), Ssm = IPAddress.Parse("232.10.0.1");

    public static bool MembershipsInKernel()
    {
        if (NetworkInterfaceNames.TryGetIndex("lab0a", out int index) != 0) return false;
        var groups = Dgram.Actors.Diagnostics.KernelMulticastTables.Igmp().Where(g => g.InterfaceIndex == index).Select(g => g.Group).ToList();
        int includes = Dgram.Actors.Diagnostics.KernelMulticastTables.McFilter().Count(f => f.InterfaceIndex == index && f.Group.Equals(Ssm) && f.Include == 1);
        return groups.Contains(Asm) && groups.Contains(Ssm) && includes == 2;
    }

    /// <summary>Polls the kernel tables (they have no events) until the memberships are there; false when the bound passed first.</summary>
    public static async Task<bool> WaitForMemberships(TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        while (!MembershipsInKernel())
        {
            if (clock.Elapsed > bound) return false;
            await Task.Delay(5);
        }
        return true;
    }
}

/// <summary>Keeps the latest per-source window from the Rx pipeline.</summary>
internal sealed class Aggregator : ReceiveActor
{
    private readonly Dictionary<IPAddress, SourceWindow> _latest = new();
    private readonly Dictionary<IPAddress, long> _lost = new();

    public Aggregator()
    {
        Receive<SourceWindow>(w =>
        {
            _latest[w.Source] = w;
            _lost[w.Source] = _lost.GetValueOrDefault(w.Source) + w.Lost;
        });
        Receive<GetFigures>(_ => Sender.Tell(_latest.Values.Select(w => (w.Source, w.RatePerSecond, _lost[w.Source])).ToList()));
    }

    public sealed class GetFigures
    {
        public static readonly GetFigures Instance = new();
    }
}

internal sealed record Snapshot(long Sent, long Received, long Lost, long Dropped, long Restarts, long SendFailures,
    IReadOnlyList<(IPAddress Source, double Rate, long Lost)> Sources, IReadOnlyList<string> Faults);

internal static class Report
{
    public static async Task<Snapshot> Snapshot(DgramSocketRegistry sockets, List<StreamTracker> trackers, List<Publisher> publishers,
        Dictionary<string, SubscriberStatistics> stats, FaultLog faults, IActorRef aggregator)
    {
        long restarts = 0, kernelDrops = 0, noConsumer = 0;
        foreach (string name in sockets.Names)
        {
            var c = (await sockets.Get(name).GetStateAsync()).Counters;
            restarts += c.Restarts;
            kernelDrops += c.KernelDrops;
            noConsumer += c.NoConsumerDrops;
        }
        long sent = publishers.Sum(p => p.Sent), received = trackers.Sum(t => t.Received);
        long dropped = kernelDrops + noConsumer + stats.Values.Sum(s => s.Dropped);
        var figures = await aggregator.Ask<List<(IPAddress, double, long)>>(Aggregator.GetFigures.Instance, TimeSpan.FromSeconds(5));
        return new Snapshot(sent, received, Math.Max(0, sent - received - dropped), dropped, restarts, publishers.Sum(p => p.Failed), figures, faults.Describe());
    }
}
