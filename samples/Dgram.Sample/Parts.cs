using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Dgram.Actors.Hosting;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Rx;
using Spectre.Console;

namespace Dgram.Sample;

/// <summary>Command line: --duration SECONDS (15), --rate PER_SECOND per publisher (200), --plain, --loopback.</summary>
internal sealed record SampleOptions(TimeSpan Duration, int Rate, bool Plain, bool Lab)
{
    public static SampleOptions? Parse(string[] args)
    {
        var o = new SampleOptions(TimeSpan.FromSeconds(15), 200, false, Environment.GetEnvironmentVariable("DGRAM_LAB") == "1");
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--duration" when i + 1 < args.Length && double.TryParse(args[i + 1], CultureInfo.InvariantCulture, out double s) && s >= 3:
                    o = o with { Duration = TimeSpan.FromSeconds(s) };
                    i++;
                    break;
                case "--rate" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out int r) && r is > 0 and <= 100_000:
                    o = o with { Rate = r };
                    i++;
                    break;
                case "--plain":
                    o = o with { Plain = true };
                    break;
                case "--loopback":
                    o = o with { Lab = false };
                    break;
                default:
                    Console.Error.WriteLine($"dgram sample: unknown or malformed argument '{args[i]}' (use --duration SECONDS>=3, --rate N, --plain, --loopback)");
                    return null;
            }
        }
        return o;
    }
}

/// <summary>Payload: 8-byte sequence number, 8-byte send time (ms since boot), big-endian.</summary>
internal static class Payload
{
    public const int Size = 16;
    public static long? Sequence(ReadOnlySpan<byte> p) => p.Length >= Size ? BinaryPrimitives.ReadInt64BigEndian(p) : null;
    public static long SentAt(ReadOnlySpan<byte> p) => BinaryPrimitives.ReadInt64BigEndian(p[8..]);
}

/// <summary>One publisher: a plain socket bound to its source, sending to its group out of its interface at a fixed rate.</summary>
internal sealed class Publisher(IPAddress source, string ifname, IPAddress group, int port, int rate)
{
    private readonly DatagramSocket _socket = Open(source);
    private long _sent, _failed, _lastSequence;
    private volatile bool _interfaceChanged = true;

    public IPAddress Source { get; } = source;
    public IPAddress Group { get; } = group;
    public long Sent => Interlocked.Read(ref _sent);
    public long Failed => Interlocked.Read(ref _failed);
    public long LastSequence => Interlocked.Read(ref _lastSequence);

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
        var destination = new IPEndPoint(Group, port);
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
                        _socket.SetMulticastInterface(ifname);
                        _interfaceChanged = false;
                    }
                    catch (DatagramSocketException)
                    {
                        // The interface is away (the fault): count the send as failed below and retry.
                    }
                }
                BinaryPrimitives.WriteInt64BigEndian(payload, seq + 1);
                BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(8), Environment.TickCount64);
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
}

/// <summary>
/// Exact loss accounting per (socket, source): a gap in the sequence numbers is explained when the
/// missing datagrams were sent during a fault window.
/// </summary>
internal sealed class StreamTracker(string socket, FaultLog faults)
{
    private readonly ConcurrentDictionary<IPAddress, Source> _sources = new();

    private sealed class Source
    {
        public long Received, LastSequence, LastSentAt, Explained, Unexplained;
    }

    public string Socket { get; } = socket;
    public long Received => _sources.Values.Sum(s => Interlocked.Read(ref s.Received));
    public long ExplainedLoss => _sources.Values.Sum(s => s.Explained);
    public long UnexplainedLoss => _sources.Values.Sum(s => s.Unexplained);
    public long LastSequence(IPAddress source) => _sources.TryGetValue(source, out var s) ? Interlocked.Read(ref s.LastSequence) : 0;

    /// <summary>Called on this subscription's delivery thread (serialised).</summary>
    public void OnDatagram(Datagram d)
    {
        if (d.SourceAddress is not { } address || Payload.Sequence(d.Payload.Span) is not long seq) return;
        var s = _sources.GetOrAdd(address, _ => new Source());
        long sentAt = Payload.SentAt(d.Payload.Span);
        if (s.LastSequence > 0 && seq > s.LastSequence + 1)
        {
            long missing = seq - s.LastSequence - 1;
            if (faults.Covers(s.LastSentAt, sentAt)) s.Explained += missing;
            else s.Unexplained += missing;
        }
        if (seq > s.LastSequence)
        {
            Interlocked.Exchange(ref s.LastSequence, seq);
            s.LastSentAt = sentAt;
        }
        Interlocked.Increment(ref s.Received);
    }

    /// <summary>Waits until every publisher's last datagram arrived (or the bound passes).</summary>
    public static async Task WaitForDrain(IEnumerable<StreamTracker> trackers, IEnumerable<Publisher> publishers, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < bound && publishers.Any(p => trackers.All(t => t.LastSequence(p.Source) < p.LastSequence)))
        {
            await Task.Delay(20);
        }
    }
}

/// <summary>Fault windows (ms since boot) and whether each recovered.</summary>
internal sealed class FaultLog
{
    private readonly object _lock = new();
    private readonly List<(string Name, long Start, long End, string Expect)> _windows = [];
    private const long MarginMs = 250; // datagrams in flight around a window's edges

    public bool AllRestored
    {
        get { lock (_lock) return _windows.All(w => w.End > 0); }
    }

    public IReadOnlyList<string> Describe()
    {
        lock (_lock)
        {
            return _windows.Select(w => w.End > 0 ? $"{w.Name}: recovered in {w.End - w.Start} ms" : $"{w.Name}: recovering").ToList();
        }
    }

    public void Begin(string name, string expectRestored)
    {
        lock (_lock) _windows.Add((name, Environment.TickCount64, 0, expectRestored));
    }

    private void End(string expect)
    {
        lock (_lock)
        {
            int i = _windows.FindLastIndex(w => w.Expect == expect && w.End == 0);
            if (i >= 0) _windows[i] = _windows[i] with { End = Environment.TickCount64 };
        }
    }

    public void OnStatus(string socket, SocketStatus status)
    {
        if (status is SocketRestored) End(socket);
    }

    /// <summary>The interface window closes once every membership is active again (checked against the kernel too).</summary>
    public async Task CloseInterfaceWindowWhenRestored(DgramSocketRegistry sockets)
    {
        bool open;
        lock (_lock) open = _windows.Any(w => w.Expect == "interface" && w.End == 0);
        if (!open) return;
        foreach (string name in sockets.Names)
        {
            var state = await sockets.Get(name).GetStateAsync();
            if (state.Memberships.Any(m => m.Status != MembershipStatus.Active)) return;
        }
        if (KernelCheck.MembershipsInKernel()) End("interface");
    }

    public async Task WaitUntilClosed(DgramSocketRegistry sockets, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        while (!AllRestored && clock.Elapsed < bound)
        {
            await CloseInterfaceWindowWhenRestored(sockets);
            await Task.Delay(50);
        }
    }

    /// <summary>True when (from, to) overlaps a fault window (with a margin for datagrams in flight).</summary>
    public bool Covers(long from, long to)
    {
        lock (_lock)
        {
            long now = Environment.TickCount64;
            return _windows.Any(w => from <= (w.End == 0 ? now : w.End) + MarginMs && to >= w.Start - MarginMs);
        }
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

/// <summary>A live table on a terminal; plain periodic lines otherwise.</summary>
internal sealed class Display(bool plain)
{
    private readonly bool _live = !plain && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    public async Task Run(Func<Action<Snapshot>, Task> body)
    {
        if (!_live)
        {
            await body(s => Console.WriteLine(Line(s)));
            return;
        }
        var table = new Table().AddColumns("source", "rate/s", "lost (pipeline)");
        await AnsiConsole.Live(table).StartAsync(async ctx => await body(s =>
        {
            table.Rows.Clear();
            foreach (var (source, rate, lost) in s.Sources.OrderBy(x => x.Source.ToString())) table.AddRow(source.ToString(), rate.ToString("F0", CultureInfo.InvariantCulture), lost.ToString(CultureInfo.InvariantCulture));
            table.Caption = new TableTitle(Line(s) + (s.Faults.Count > 0 ? "\n" + string.Join("\n", s.Faults) : ""));
            ctx.Refresh();
        }));
    }

    public void Final(Snapshot s)
    {
        if (!_live) foreach (string f in s.Faults) Console.WriteLine("fault: " + f);
    }

    private static string Line(Snapshot s) =>
        $"sent={s.Sent} received={s.Received} lost={s.Lost} dropped={s.Dropped} restarts={s.Restarts} send-failures={s.SendFailures} | "
        + string.Join(" ", s.Sources.OrderBy(x => x.Source.ToString()).Select(x => $"{x.Source}:{x.Rate:F0}/s"));
}
