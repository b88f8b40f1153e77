using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Cli;

/// <summary>
/// <c>dgram listen</c> says what it received and what was lost: the summary on every exit, the
/// <c>--stats</c> interval lines, and the <c>--seq</c> per-source counts, checked against datagrams the
/// test sends itself from plain sockets (a known gap, duplicate and reordering), against the kernel's
/// drops while the listener is stopped, and against iperf2's client.
/// </summary>
[Trait("Area", "Hosting")]
public sealed partial class ListenAccountingTests : IDisposable
{
    private const string Rx = LabNet.Rx0, Tx = LabNet.Tx0;
    private const int SIGTERM = 15, SIGCONT = 18, SIGSTOP = 19;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly List<IDisposable> _owned = [];

    public ListenAccountingTests() => LabNet.Require();

    [GeneratedRegex(@"^summary: received (?<n>\d+) datagrams, (?<bytes>\d+) bytes in [\d.]+ s \(\d+/s, [\d.]+ Mbit/s\), kernel drops (?<drops>\d+), truncated (?<trunc>\d+), filtered by interface (?<filtered>\d+)$")]
    private static partial Regex SummaryLine();

    [GeneratedRegex(@"^seq (?<src>\S+): received (?<n>\d+), numbers (?<range>\S+), lost (?<lost>\d+) \([\d.]+%\), out of order (?<ooo>\d+), duplicates (?<dup>\d+), late (?<late>\d+), end markers (?<end>\d+)$")]
    private static partial Regex SeqLine();

    [GeneratedRegex(@"^interval (?<from>[\d.]+)-(?<to>[\d.]+) s: (?<n>\d+) datagrams, (?<bytes>\d+) bytes, \d+/s, [\d.]+ Mbit/s, kernel drops (?<drops>\d+)$")]
    private static partial Regex IntervalLine();

    [Theory]
    [InlineData("count")]
    [InlineData("timeout")]
    [InlineData("SIGTERM")]
    public void Listen_seq_counts_a_gap_a_duplicate_and_a_reordering_and_every_exit_prints_the_summary(string ending)
    {
        LabFamily f = LabFamily.V4;
        IPAddress group = f.NewGroup();
        int port = LabNet.NextPort();
        // Source A: 6 never sent, 3 after 4, 5 twice, then iperf2's end marker (the last id negated). Source B: no loss.
        int[] a = [0, 1, 2, 4, 3, 5, 5, 7, 8, -9];
        int[] b = [10, 11, 12];
        int total = a.Length + b.Length;
        string[] end = ending switch
        {
            "count" => ["--count", Str(total)],
            "timeout" => ["--timeout", "3"],
            _ => [],
        };
        DgramProcess listener = Dgram(["listen", group.ToString(), "--port", Str(port), "--iface", Rx, "--seq", "--format", "hex", .. end]);
        listener.WaitForListening();

        int sent = 0;
        using (DatagramSocket fromA = LabNet.OpenSender(f, f.Tx0Sources[0], Tx), fromB = LabNet.OpenSender(f, f.Tx0Sources[1], Tx))
        {
            foreach ((DatagramSocket socket, int n) in a.Select(n => (fromA, n)).Concat(b.Select(n => (fromB, n))))
            {
                Send(socket, group, port, n, 12);
                listener.WaitForOutputLines(++sent); // in lock step: arrival order is send order
            }
        }
        if (ending == "SIGTERM") listener.Signal(SIGTERM);

        int code = listener.WaitForExit();
        Assert.True(code == (ending == "SIGTERM" ? 130 : 0), listener.Describe());
        string reason = ending switch
        {
            "count" => $"received {total} datagram(s)",
            "timeout" => $"timeout after 3 s: {total} datagram(s) received",
            _ => $"interrupted: {total} datagram(s) received",
        };
        Assert.Contains(reason, listener.Errors);
        Match summary = Single(listener, SummaryLine());
        Assert.Equal([Str(total), Str(12 * total), "0", "0", "0"],
            new[] { "n", "bytes", "drops", "trunc", "filtered" }.Select(g => summary.Groups[g].Value));
        Assert.Equal(["9", "0-8", "1", "1", "1", "0", "1"], SeqFields(listener, f.Tx0Sources[0]));
        Assert.Equal(["3", "10-12", "0", "0", "0", "0", "0"], SeqFields(listener, f.Tx0Sources[1]));
    }

    [Fact]
    public void Listen_reports_the_kernel_drops_of_a_stall_and_seq_loss_agrees()
    {
        LabFamily f = LabFamily.V4;
        IPAddress group = f.NewGroup();
        int port = LabNet.NextPort();
        DgramProcess listener = Dgram("listen", group.ToString(), "--port", Str(port), "--iface", Rx, "--seq", "--format", "hex");
        listener.WaitForListening();

        const int Flood = 20_000; // 200 B each: their queue charge is several times the largest receive buffer the kernel grants
        int next = 0;
        using (DatagramSocket sender = LabNet.OpenSender(f, f.Tx0Sources[0], Tx))
        {
            Send(sender, group, port, next++, 200);
            listener.WaitForOutputLines(1);
            listener.Signal(SIGSTOP);
            try
            {
                while (next <= Flood) Send(sender, group, port, next++, 200);
            }
            finally
            {
                listener.Signal(SIGCONT);
            }
            // The queue may still be full when the first marker arrives: markers until one is printed. Each
            // marker is queued after the drops, so it carries the kernel's whole count (SO_RXQ_OVFL).
            bool printed = false;
            for (int tries = 0; tries < 50 && !printed; tries++)
            {
                int marker = next++;
                Send(sender, group, port, marker, 200);
                string hex = Convert.ToHexStringLower(SeqBytes(marker));
                printed = listener.TryWaitUntil(p => p.Output.Any(l => l.EndsWith(": " + hex + Pad(196), StringComparison.Ordinal)), TimeSpan.FromMilliseconds(200));
            }
            Assert.True(printed, $"no marker printed: {listener.Describe()}");
        }
        listener.Signal(SIGTERM);
        Assert.True(listener.WaitForExit() == 130, listener.Describe());

        Match summary = Single(listener, SummaryLine());
        long received = long.Parse(summary.Groups["n"].Value, CultureInfo.InvariantCulture);
        long drops = long.Parse(summary.Groups["drops"].Value, CultureInfo.InvariantCulture);
        Assert.True(drops > 0, $"the stall dropped nothing: {listener.Describe()}");
        Assert.Equal((long)next, received + drops); // every datagram sent was printed or counted as dropped
        Assert.Equal(received, listener.Output.Count);
        Assert.Equal([received.ToString(CultureInfo.InvariantCulture), $"0-{next - 1}", drops.ToString(CultureInfo.InvariantCulture), "0", "0", "0", "0"],
            SeqFields(listener, f.Tx0Sources[0]));
    }

    [Fact]
    public void Listen_stats_prints_contiguous_intervals_that_add_up()
    {
        LabFamily f = LabFamily.V4;
        IPAddress group = f.NewGroup();
        int port = LabNet.NextPort();
        DgramProcess listener = Dgram("listen", group.ToString(), "--port", Str(port), "--iface", Rx, "--stats", "0.2", "--timeout", "1.5");
        listener.WaitForListening();
        using (DatagramSocket sender = LabNet.OpenSender(f, f.Tx0Sources[0], Tx))
        {
            for (int i = 0; i < 5; i++)
            {
                Send(sender, group, port, i, 100);
                listener.WaitForOutputLines(i + 1);
            }
        }
        Assert.True(listener.WaitForExit() == 0, listener.Describe());

        Match[] intervals = listener.Errors.Select(l => IntervalLine().Match(l)).Where(m => m.Success).ToArray();
        Assert.True(intervals.Length >= 5, $"expected an interval line per 0.2 s of 1.5 s: {listener.Describe()}");
        Assert.Equal("0.0", intervals[0].Groups["from"].Value);
        for (int i = 1; i < intervals.Length; i++) Assert.Equal(intervals[i - 1].Groups["to"].Value, intervals[i].Groups["from"].Value);
        Assert.Equal(5, intervals.Sum(m => int.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture)));
        Assert.Equal(500, intervals.Sum(m => int.Parse(m.Groups["bytes"].Value, CultureInfo.InvariantCulture)));
        Assert.All(intervals, m => Assert.Equal("0", m.Groups["drops"].Value));
        Assert.Equal("5", Single(listener, SummaryLine()).Groups["n"].Value);
    }

    /// <summary>
    /// iperf2's UDP client (Debian's 2.1.8 numbers data datagrams 1, 2, ... and sends the last one with its
    /// id negated; it reports that id + 1 as "Sent N datagrams"): what listen --seq counts agrees with it.
    /// </summary>
    [Fact]
    public async Task Listen_seq_agrees_with_what_an_iperf2_client_sent()
    {
        const string iperf = "/usr/bin/iperf";
        Assert.True(File.Exists(iperf), "iperf2 is missing: apt-get install -y iperf");
        LabFamily f = LabFamily.V4;
        IPAddress group = f.NewGroup();
        int port = LabNet.NextPort();
        DgramProcess listener = Dgram("listen", group.ToString(), "--port", Str(port), "--iface", Rx, "--seq", "--format", "hex");
        listener.WaitForListening();

        string source = f.Tx0Sources[0].ToString();
        var psi = new ProcessStartInfo(iperf) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { "-c", group.ToString(), "-u", "-T", "1", "-B", source, "-p", Str(port), "-b", "1M", "-l", "200", "-t", "1" })
        {
            psi.ArgumentList.Add(arg);
        }
        using Process client = Process.Start(psi)!;
        Task<string> stdout = client.StandardOutput.ReadToEndAsync(), stderr = client.StandardError.ReadToEndAsync();
        using (var bounded = new CancellationTokenSource(Bound)) await client.WaitForExitAsync(bounded.Token);
        string report = await stdout + await stderr;
        Match sentLine = Regex.Match(report, @"Sent (\d+) datagrams");
        Assert.True(client.ExitCode == 0 && sentLine.Success, $"iperf: exit {client.ExitCode}\n{report}");
        int last = int.Parse(sentLine.Groups[1].Value, CultureInfo.InvariantCulture) - 1; // the end marker's id

        string endMarker = Convert.ToHexStringLower(SeqBytes(-last));
        Assert.True(listener.TryWaitUntil(p => p.Output.Any(l => l.Contains(": " + endMarker, StringComparison.Ordinal)), Bound),
            $"no end marker -{last}: {listener.Describe()}\niperf:\n{report}");
        listener.Signal(SIGTERM);
        Assert.True(listener.WaitForExit() == 130, listener.Describe());

        string[] seq = SeqFields(listener, f.Tx0Sources[0]);
        long drops = long.Parse(Single(listener, SummaryLine()).Groups["drops"].Value, CultureInfo.InvariantCulture);
        long received = long.Parse(seq[0], CultureInfo.InvariantCulture), lost = long.Parse(seq[2], CultureInfo.InvariantCulture);
        Assert.Equal($"1-{last - 1}", seq[1]);
        Assert.Equal(last - 1, received + lost); // each data datagram iperf sent was received or counted lost
        Assert.Equal(drops, lost); // and every loss is a kernel drop the summary reports
        Assert.Equal(["0", "0", "0"], seq[3..6]); // no reordering or duplicates on a veth
        Assert.NotEqual("0", seq[6]); // the end marker arrived (and was not taken for a number)
    }

    private DgramProcess Dgram(params string[] args)
    {
        DgramProcess p = DgramProcess.Start(null, args);
        _owned.Add(p);
        return p;
    }

    /// <summary>The 4-byte big-endian sequence number iperf2 and <c>dgram send --seq</c> put first.</summary>
    private static byte[] SeqBytes(int n)
    {
        byte[] b = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(b, n);
        return b;
    }

    private static string Pad(int length) => string.Concat(Enumerable.Repeat("2e", length));

    private static void Send(DatagramSocket socket, IPAddress group, int port, int n, int size)
    {
        byte[] payload = new byte[size];
        payload.AsSpan().Fill((byte)'.');
        BinaryPrimitives.WriteInt32BigEndian(payload, n);
        SendResult sent = socket.SendTo(payload, new IPEndPoint(group, port), Bound);
        Assert.True(sent.Status == SendStatus.Sent, $"send {n}: {sent}");
    }

    private static Match Single(DgramProcess p, Regex pattern)
    {
        Match[] matches = p.Errors.Select(l => pattern.Match(l)).Where(m => m.Success).ToArray();
        Assert.True(matches.Length == 1, $"expected one line matching {pattern}: {p.Describe()}");
        return matches[0];
    }

    /// <summary>The source's --seq line as: received, numbers, lost, out of order, duplicates, late, end markers.</summary>
    private static string[] SeqFields(DgramProcess p, IPAddress source)
    {
        Match m = p.Errors.Select(l => SeqLine().Match(l))
            .SingleOrDefault(m => m.Success && IPEndPoint.Parse(m.Groups["src"].Value).Address.Equals(source)) ?? Match.Empty;
        Assert.True(m.Success, $"no seq line for {source}: {p.Describe()}");
        return new[] { "n", "range", "lost", "ooo", "dup", "late", "end" }.Select(g => m.Groups[g].Value).ToArray();
    }

    private static string Str(int n) => n.ToString(CultureInfo.InvariantCulture);

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
    }
}
