using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Diagnostics;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Supervision;

namespace Dgram.Bench.Child;

/// <summary>
/// <c>recovery</c>: how fast a membership is back after its interface is deleted and re-created, inside the
/// lab namespace only (it creates and deletes a veth pair). One socket actor joins the group on the pair's
/// A end; each cycle deletes the pair, waits until the socket reports the interface gone, re-creates the pair
/// (A end up in the same request, then the B end up) and times from the first RTM_NEWLINK that carries the A
/// end's new index (measured: its flags lack IFF_UP, which the same request sets and announces in the next
/// message; `peer name B up` in that request fails with ENOTCONN, hence the second command), read on the bench's own netlink socket (<see cref="LinkEvents"/>), to the group listed on that
/// index in /proc/net/igmp, polled every ~0.2 ms with one read per poll (<see cref="Listed"/>; the project's
/// <see cref="KernelMulticastTables.Igmp"/> reads at least three passes, ~0.5 ms a call here, and confirms
/// each cycle's result untimed). The start is when the bench's recv returned, at or after the kernel's event;
/// the end is the first read that shows the group, up to one poll after the join. A start that came late
/// (the bench's thread woke after the library had already joined and reported it) shortens its sample: such
/// cycles are counted as <c>late_starts</c>. One unmeasured cycle first (<c>cold_ms</c>: the library's
/// re-create path runs for the first time), then <c>--cycles</c> measured ones. Prints
/// <c>recovery p50_ms=… p99_ms=… cycles=N cold_ms=… late_starts=K</c> (with 50 cycles the p99 is the slowest one).
/// </summary>
internal static partial class RecoveryChild
{
    public const string Usage = "recovery --iface A --peer B --group G --port P [--cycles N]   (inside the lab namespace: creates and deletes the veth pair A/B)";

    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    public static async Task<int> RunAsync(string[] args)
    {
        var o = new Options(args);
        string iface = o.Required("--iface"), peer = o.Required("--peer");
        var group = IPAddress.Parse(o.Required("--group"));
        int port = o.Int("--port", 0), cycles = o.Int("--cycles", 50);
        o.End();
        if (port < 1 || cycles < 1 || group.AddressFamily != AddressFamily.InterNetwork || !DatagramSocket.IsMulticast(group))
        {
            throw new ArgumentException("--port P >= 1, --cycles N >= 1 and an IPv4 --group");
        }
        // It creates and deletes interfaces: only where lab/lab.sh has built its namespace.
        if (Environment.GetEnvironmentVariable("DGRAM_LAB") != "1") throw new ArgumentException("recovery runs only inside the lab namespace (lab/lab.sh sets DGRAM_LAB=1)");
        if (NetworkInterfaceNames.TryGetIndex(iface, out _) == 0) throw new ArgumentException($"interface {iface} exists already; recovery makes its own");

        Threads.SetExplicitly(); // the cycle blocks a pool thread in poll and usleep: the actor's dispatcher keeps others
        using LinkEvents links = LinkEvents.Open();
        await DoneAsync(Ip($"link add {iface} up type veth peer name {peer}", $"link set {peer} up"), $"creating {iface}");
        var system = Threads.CreateActorSystem("recovery");
        try
        {
            var client = await SocketClient.StartAsync(system, new SocketSettings
            {
                Name = "recovery", Family = AddressFamily.InterNetwork, LocalEndPoint = new IPEndPoint(IPAddress.Any, port),
                SocketOptions = new DatagramSocketOptions(),
                Groups = [new GroupSettings(group, iface)],
            });
            var statuses = new Statuses();
            await client.AddHandlerAsync(statuses);
            int index = NetworkInterfaceNames.GetIndex(iface);
            WaitJoined(IgmpHex(group), index);

            var samples = new List<double>();
            var restored = new List<double>(); // to the library's MembershipRestored event: the same interval without the /proc polling
            string hex = IgmpHex(group);
            for (int cycle = -1; cycle < cycles; cycle++)
            {
                int old = index;
                await DoneAsync(Ip($"link del {iface}"), $"deleting {iface}");
                await statuses.WaitAsync(s => s is InterfaceChanged { Change: InterfaceChange.Gone } c && c.Interface == iface, $"{iface} gone");
                links.Drain();
                Process create = Ip($"link add {iface} up type veth peer name {peer}", $"link set {peer} up");
                LinkEvents.LinkEvent added = links.WaitNew(iface, i => i != old, Bound);
                long joined = WaitJoined(hex, added.Index);
                if (!KernelMulticastTables.Igmp().Any(r => r.InterfaceIndex == added.Index && r.Group.Equals(group)))
                {
                    throw new InvalidOperationException($"recovery: {group} showed in /proc/net/igmp on index {added.Index}, but KernelMulticastTables.Igmp() does not list it");
                }
                samples.Add(Stopwatch.GetElapsedTime(added.Timestamp, joined).TotalMilliseconds);
                await DoneAsync(create, $"re-creating {iface}");
                long back = await statuses.WaitAsync(s => s is MembershipRestored r && r.Membership.Group.Equals(group), $"{group} restored");
                restored.Add(Stopwatch.GetElapsedTime(added.Timestamp, back).TotalMilliseconds);
                await statuses.WaitAsync(s => s is InterfaceChanged { Change: InterfaceChange.Recreated } c && c.Interface == iface, $"{iface} re-created");
                index = added.Index;
            }
            await client.Socket.GracefulStop(Bound);

            Console.Error.WriteLine($"recovery: ms per cycle to /proc/net/igmp, in order: {Join(samples)}");
            Console.Error.WriteLine($"recovery: ms per cycle to the MembershipRestored event, in order: {Join(restored)}");
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"recovery: a read of /proc/net/igmp took {s_readTicks * 1000.0 / Stopwatch.Frequency / Math.Max(1, s_reads):F3} ms on average ({s_reads} reads)"));
            double cold = samples[0];
            double[] measured = [.. samples.Skip(1).Order()];
            int late = restored.Skip(1).Count(x => x < 0);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"recovery p50_ms={RttChild.Percentile(measured, 0.50):F2} p99_ms={RttChild.Percentile(measured, 0.99):F2} cycles={measured.Length} cold_ms={cold:F2} late_starts={late}"));
            return 0;
        }
        finally
        {
            await system.Terminate();
            if (NetworkInterfaceNames.TryGetIndex(iface, out _) == 0) await DoneAsync(Ip($"link del {iface}"), $"deleting {iface}");
        }
    }

    private static string Join(IEnumerable<double> ms) => string.Join(' ', ms.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)));

    private static long s_reads, s_readTicks;

    /// <summary>Polls /proc/net/igmp about every 0.2 ms until the group (<see cref="IgmpHex"/>) is listed on <paramref name="index"/>; returns the Stopwatch time of the read that showed it.</summary>
    private static long WaitJoined(string hex, int index)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(Bound.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            long before = Stopwatch.GetTimestamp();
            bool listed = Listed(hex, index);
            long now = Stopwatch.GetTimestamp();
            s_reads++;
            s_readTicks += now - before;
            if (listed) return now;
            if (now > deadline) throw new TimeoutException($"{hex} (host order) not in /proc/net/igmp on index {index} within {Bound.TotalSeconds:F0} s");
            USleep(200); // the core goes to the library's threads meanwhile (2 cores)
        }
    }

    /// <summary>A group as /proc/net/igmp prints it: the be32 printed as a host integer, 8 hex digits (239.255.202.1 → "01CAFFEF" on x86).</summary>
    private static string IgmpHex(IPAddress group) =>
        BitConverter.ToUInt32(group.GetAddressBytes()).ToString("X8", CultureInfo.InvariantCulture);

    /// <summary>
    /// One pass over /proc/net/igmp, in its format (see <see cref="KernelMulticastTables"/>): an interface line
    /// "Idx Device : Count Querier", then one indented line per group starting with its hex. One pass is
    /// enough here: the multiple passes of the project's reader guard against rows skipped while many sockets
    /// join and leave, and only this socket does.
    /// </summary>
    private static bool Listed(string hex, int index)
    {
        int current = -1;
        foreach (string line in File.ReadLines("/proc/net/igmp").Skip(1))
        {
            if (line.Length == 0) continue;
            if (!char.IsWhiteSpace(line[0]))
            {
                int end = line.IndexOfAny([' ', '\t']);
                current = int.TryParse(end < 0 ? line : line[..end], NumberStyles.Integer, CultureInfo.InvariantCulture, out int i) ? i : -1;
            }
            else if (current == index && line.AsSpan().TrimStart().StartsWith(hex, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Starts <c>ip -batch -</c> with <paramref name="commands"/>, one process for all (no spawn between them); <see cref="DoneAsync"/> waits for it.</summary>
    private static Process Ip(params string[] commands)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardInput = true, UseShellExecute = false };
        psi.ArgumentList.Add("-batch");
        psi.ArgumentList.Add("-");
        var ip = Process.Start(psi) ?? throw new InvalidOperationException("cannot start ip");
        foreach (string c in commands) ip.StandardInput.WriteLine(c);
        ip.StandardInput.Close();
        return ip;
    }

    private static async Task DoneAsync(Process ip, string what)
    {
        using (ip)
        {
            await ip.WaitForExitAsync();
            if (ip.ExitCode != 0) throw new InvalidOperationException($"recovery: ip -batch ({what}) failed with exit code {ip.ExitCode}");
        }
    }

    [LibraryImport("libc", EntryPoint = "usleep")]
    private static partial int USleep(uint microseconds);

    /// <summary>The socket's status events, in order and with the Stopwatch time the handler got each, for the cycle to wait on.</summary>
    private sealed class Statuses : IDatagramHandler
    {
        private readonly Channel<(SocketStatus Status, long Timestamp)> _events = Channel.CreateUnbounded<(SocketStatus, long)>();

        public bool OnDatagram(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> sourceAddress, in ReceiveResult result, long sequence) => true;

        public void OnStatus(SocketStatus status) => _events.Writer.TryWrite((status, Stopwatch.GetTimestamp()));

        /// <summary>Reads events until one matches and returns when it came; a failed socket or a silence past 5 s ends the run.</summary>
        public async Task<long> WaitAsync(Func<SocketStatus, bool> match, string what)
        {
            using var limit = new CancellationTokenSource(Bound);
            try
            {
                while (true)
                {
                    var (s, at) = await _events.Reader.ReadAsync(limit.Token);
                    if (s is SocketFailed failed) throw new InvalidOperationException($"recovery: the socket failed: {failed.Cause.Message}");
                    if (match(s)) return at;
                }
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"recovery: no event '{what}' within {Bound.TotalSeconds:F0} s");
            }
        }
    }
}
