using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Dgram.Cli;
using Xunit;

namespace Dgram.Actors.Tests.Cli;

/// <summary>
/// <c>dgram send --rate --size --duration --seq</c>: the rate syntax, pacing measured at the receiver with kernel
/// arrival timestamps, the summary line (also after SIGINT), and iperf2's server counting the sequence numbers.
/// </summary>
public sealed partial class CliTests
{
    [Theory]
    [InlineData("2000", 2000, false)]
    [InlineData("0.5", 0.5, false)]
    [InlineData("64k", 64e3, true)]
    [InlineData("64K", 64e3, true)]
    [InlineData("100M", 100e6, true)]
    [InlineData("1.5G", 1.5e9, true)]
    [InlineData("100Mbit/s", 100e6, true)]
    [InlineData("64000bit/s", 64e3, true)]
    public void Send_rate_parses_datagrams_or_bits_per_second(string text, double value, bool bits) =>
        Assert.Equal(new SendRate(value, bits), SendRate.Parse(text));

    [Fact]
    public void Send_rate_in_bits_per_second_divides_by_the_datagram_bits() =>
        Assert.Equal(1000, SendRate.Parse("1.6M").DatagramsPerSecond(200), 9);

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("1e6")]
    [InlineData("1,000")]
    [InlineData("100 M")]
    [InlineData("100m")]
    [InlineData("100MB")]
    [InlineData("100Mbps")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData(".5")]
    public void Send_rate_refuses_anything_else_with_one_error(string text)
    {
        CliException e = Assert.Throws<CliException>(() => SendRate.Parse(text));
        Assert.Equal(ExitCodes.BadInput, e.ExitCode);
        Assert.StartsWith($"--rate \"{text}\" is not a rate: give datagrams/s", e.Message);
    }

    [Theory]
    [InlineData("--rate \"10x\" is not a rate", "--rate", "10x")]
    [InlineData("--size 0 is out of range", "--size", "0")]
    [InlineData("--size 3 is too small for --seq", "--size", "3", "--seq")]
    [InlineData("does not fit --size 4", "--size", "4", "hello")]
    [InlineData("--duration 0 is out of range", "--duration", "0")]
    [InlineData("--count 0 is out of range", "--count", "0")]
    public void Send_bad_pacing_input_exits_2_with_one_line(string expected, params string[] options) =>
        Bad_input_exits_2_with_one_line(expected, ["send", "239.255.77.9", "--port", "{port}", "--iface", Tx, .. options, .. options.Contains("hello") ? Array.Empty<string>() : ["x"]]);

    [Fact]
    public void Send_paced_by_datagrams_per_second_spreads_them_over_the_duration_in_sequence()
    {
        (List<Arrival> arrivals, DgramProcess sender) = SendAndCollect(100, "--rate", "2000", "--duration", "1", "--size", "100", "--seq");
        Summary summary = ParseSummary(Assert.Single(sender.Errors));
        // The pacer does not make up a stall longer than one call of 64 datagrams (a loaded machine may cause one):
        // what it sent, numbered without a gap, is what arrived and what it says, close to the rate.
        int sent = (int)summary.Datagrams;
        Assert.InRange(sent, 1900, 2000);
        Assert.Equal(Enumerable.Range(1, sent).Select(n => (uint)n), arrivals.Select(a => a.Sequence));
        Assert.All(arrivals, a => Assert.Equal(100, a.Length));
        AssertSpread(arrivals, expectedSeconds: 1999 / 2000.0);
        Assert.Equal((sent * 100L, 0L), (summary.Bytes, summary.Errors));
        Assert.InRange(summary.Seconds, 1.0, 1.2); // a --duration run lasts its duration
        Assert.InRange(summary.PerSecond, 2000 / 1.2, 2000);
    }

    [Fact]
    public void Send_paced_by_bits_per_second_sends_rate_over_size_bits_datagrams_per_second()
    {
        // 1.6 Mbit/s of 200 B datagrams: 1,000 per second, 500 in half a second.
        (List<Arrival> arrivals, DgramProcess sender) = SendAndCollect(200, "--rate", "1.6M", "--size", "200", "--duration", "0.5", "--seq");
        Summary summary = ParseSummary(Assert.Single(sender.Errors));
        int sent = (int)summary.Datagrams; // as above: a stall longer than 64 datagrams is not made up
        Assert.InRange(sent, 475, 500);
        Assert.Equal(Enumerable.Range(1, sent).Select(n => (uint)n), arrivals.Select(a => a.Sequence));
        AssertSpread(arrivals, expectedSeconds: 499 / 1000.0);
        Assert.Equal(sent * 200L, summary.Bytes);
        Assert.InRange(summary.Mbits, 1.6 / 1.2, 1.6);
    }

    [Fact]
    public void Send_interrupted_stops_cleanly_and_says_what_it_sent()
    {
        LabFamily f = LabFamily.V4;
        IPAddress group = f.NewGroup();
        using DatagramSocket receiver = Receiver(f, group, out int port);
        DgramProcess sender = Dgram("send", group.ToString(), "--port", Str(port), "--iface", Tx, "--rate", "1000", "--duration", "60",
            "--size", "50", "--seq");
        for (int i = 0; i < 5; i++) Assert.Equal(50, Next(receiver).Text.Length); // it is sending
        sender.Interrupt();
        Assert.True(sender.WaitForExit() == ExitCodes.Interrupted, sender.Describe());
        string line = Assert.Single(sender.Errors);
        Assert.StartsWith("interrupted: ", line);
        Summary summary = ParseSummary(line["interrupted: ".Length..]);
        Assert.InRange(summary.Seconds, 0, 30);
        // Everything it counted arrived, and nothing after: a marker sent now comes right after the last one.
        List<Arrival> rest = CollectUntilMarker(receiver, group, port);
        Assert.Equal(Enumerable.Range(6, (int)summary.Datagrams - 5).Select(n => (uint)n), rest.Select(a => a.Sequence));
    }

    [Fact]
    public void Send_seq_is_counted_by_iperf2_without_loss()
    {
        LabFamily f = LabFamily.V4;
        IPAddress group = f.NewGroup();
        int port = LabNet.NextPort();
        using var iperf = IperfServer.Start(group, port, Rx);
        DgramProcess sender = Dgram("send", group.ToString(), "--port", Str(port), "--iface", Tx, "--rate", "5000", "--duration", "0.5",
            "--size", "200", "--seq");
        Assert.True(sender.WaitForExit() == 0, sender.Describe());
        // iperf2's client ends a test with its datagram id negated (the FIN); iperf2's server reports then, if the FIN
        // comes from the source it took up with ("connected with 198.51.100.2 port 34758"): dgram's port, now free.
        Match peer = IperfPeer().Match(iperf.WaitForLine(l => IperfPeer().IsMatch(l)));
        using (DatagramSocket fin = DatagramSocket.Create(f.Family))
        {
            fin.Bind(new IPEndPoint(IPAddress.Parse(peer.Groups["ip"].Value), int.Parse(peer.Groups["port"].Value, CultureInfo.InvariantCulture)));
            fin.SetMulticastInterface(Tx);
            byte[] datagram = new byte[200];
            BinaryPrimitives.WriteInt32BigEndian(datagram, -2501);
            Assert.Equal(SendStatus.Sent, fin.SendTo(datagram, new IPEndPoint(group, port), TimeSpan.FromSeconds(5)).Status);
        }
        string report = iperf.WaitForLine(l => LostTotal().IsMatch(l));
        Match m = LostTotal().Match(report);
        Assert.True((m.Groups["lost"].Value, m.Groups["total"].Value) == ("0", "2501"), $"iperf2 counted: {report}\n{iperf.Describe()}");
        Assert.DoesNotContain(iperf.Lines, l => l.Contains("out-of-order", StringComparison.Ordinal));
    }

    private readonly record struct Arrival(uint Sequence, int Length, long Nanoseconds);

    private readonly record struct Summary(long Datagrams, long Bytes, double Seconds, double PerSecond, double Mbits, long Errors);

    // "sent 2000 datagram(s), 200000 bytes, to 239.255.0.1:5001 in 1.001 s: 1998 datagrams/s, 1.598 Mbit/s, 0 send error(s)"
    [GeneratedRegex(@"^sent (?<n>\d+) datagram\(s\), (?<bytes>\d+) bytes, to \S+ in (?<s>[\d.]+) s: (?<rate>\d+) datagrams/s, (?<mbit>[\d.]+) Mbit/s, (?<err>\d+) send error\(s\)$")]
    private static partial Regex SummaryLine();

    // iperf2's report: "... 0/2501 (0%) ..."
    [GeneratedRegex(@"\s(?<lost>\d+)/(?<total>\d+) \(")]
    private static partial Regex LostTotal();

    [GeneratedRegex(@"connected with (?<ip>\S+) port (?<port>\d+)")]
    private static partial Regex IperfPeer();

    private static Summary ParseSummary(string line)
    {
        Match m = SummaryLine().Match(line);
        Assert.True(m.Success, $"not a summary line: {line}");
        double D(string g) => double.Parse(m.Groups[g].Value, CultureInfo.InvariantCulture);
        return new Summary((long)D("n"), (long)D("bytes"), D("s"), D("rate"), D("mbit"), (long)D("err"));
    }

    /// <summary>Runs dgram send ARGS to a fresh group while a receiver reads it; returns every datagram before the marker.</summary>
    private (List<Arrival>, DgramProcess) SendAndCollect(int size, params string[] args)
    {
        LabFamily f = LabFamily.V4;
        IPAddress group = f.NewGroup();
        using DatagramSocket receiver = Receiver(f, group, out int port, ReceiveMetadata.Timestamp);
        // The default receive buffer holds a few hundred small datagrams: read while the sender runs.
        Task<List<Arrival>> collecting = Task.Factory.StartNew(() => CollectUntilMarker(receiver, null, 0), TaskCreationOptions.LongRunning);
        DgramProcess sender = Dgram(["send", group.ToString(), "--port", Str(port), "--iface", Tx, .. args]);
        Assert.True(sender.WaitForExit() == 0, sender.Describe());
        SendMarker(group, port);
        Assert.True(collecting.Wait(TimeSpan.FromSeconds(10)), "the marker did not arrive");
        return (collecting.Result, sender);
    }

    private static readonly byte[] Marker = "marker"u8.ToArray();

    private static void SendMarker(IPAddress group, int port)
    {
        using DatagramSocket s = DatagramSocket.Create(group.AddressFamily);
        s.SetMulticastInterface(Tx);
        Assert.Equal(SendStatus.Sent, s.SendTo(Marker, new IPEndPoint(group, port), TimeSpan.FromSeconds(5)).Status);
    }

    /// <summary>Reads datagrams until the marker (sent first when <paramref name="group"/> is given).</summary>
    private static List<Arrival> CollectUntilMarker(DatagramSocket receiver, IPAddress? group, int port)
    {
        if (group is not null) SendMarker(group, port);
        var arrivals = new List<Arrival>();
        byte[] buffer = new byte[2048];
        while (true)
        {
            ReceiveResult r = receiver.ReceiveFrom(buffer, out _, TimeSpan.FromSeconds(10));
            Assert.True(r.Status == ReceiveStatus.Received, $"expected a datagram or the marker, got {r} after {arrivals.Count}");
            if (buffer.AsSpan(0, r.BytesReceived).SequenceEqual(Marker)) return arrivals;
            arrivals.Add(new Arrival(BinaryPrimitives.ReadUInt32BigEndian(buffer), r.BytesReceived, r.TimestampNanoseconds));
        }
    }

    /// <summary>
    /// Paced, not bursted: first to last arrival spans about <paramref name="expectedSeconds"/> (kernel arrival times,
    /// so a busy test host does not blur them), and each tenth of the run holds about a tenth of the datagrams.
    /// </summary>
    private static void AssertSpread(List<Arrival> arrivals, double expectedSeconds)
    {
        long t0 = arrivals[0].Nanoseconds;
        double span = (arrivals[^1].Nanoseconds - t0) / 1e9;
        Assert.InRange(span, expectedSeconds * 0.95, expectedSeconds * 1.05);
        int[] tenths = new int[10];
        foreach (Arrival a in arrivals) tenths[Math.Min(9, (int)((a.Nanoseconds - t0) / 1e9 / span * 10))]++;
        int tenth = arrivals.Count / 10;
        Assert.All(tenths, n => Assert.InRange(n, tenth * 0.7, tenth * 1.3));
    }

    /// <summary>iperf2's UDP server joined to a group (<c>iperf -s -u -B GROUP%IFACE -p PORT</c>), its stdout line-buffered.</summary>
    private sealed class IperfServer : IDisposable
    {
        private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
        private readonly Process _process;
        private readonly List<string> _lines = [];

        private IperfServer(IPAddress group, int port, string iface)
        {
            string iperf = new[] { "/usr/bin/iperf", "/usr/local/bin/iperf" }.FirstOrDefault(File.Exists)
                ?? throw new InvalidOperationException("iperf (iperf2) is missing: apt-get install -y iperf");
            // stdbuf: iperf2 writes its reports with stdio, block-buffered into a pipe.
            var psi = new ProcessStartInfo("stdbuf") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in new[] { "-oL", iperf, "-s", "-u", "-B", $"{group}%{iface}", "-p", Str(port) }) psi.ArgumentList.Add(a);
            _process = new Process { StartInfo = psi };
            _process.OutputDataReceived += (_, e) => Add(e.Data);
            _process.ErrorDataReceived += (_, e) => Add(e.Data);
            _process.Start();
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
            WaitForLine(l => l.StartsWith("Joining multicast", StringComparison.Ordinal));
        }

        public static IperfServer Start(IPAddress group, int port, string iface) => new(group, port, iface);

        public IReadOnlyList<string> Lines
        {
            get { lock (_lines) return _lines.ToArray(); }
        }

        private void Add(string? line)
        {
            if (line is null) return;
            lock (_lines)
            {
                _lines.Add(line);
                Monitor.PulseAll(_lines);
            }
        }

        public string WaitForLine(Func<string, bool> match)
        {
            long deadline = Environment.TickCount64 + (long)Bound.TotalMilliseconds;
            lock (_lines)
            {
                while (true)
                {
                    string? found = _lines.FirstOrDefault(match);
                    if (found is not null) return found;
                    long left = deadline - Environment.TickCount64;
                    if (left <= 0 || !Monitor.Wait(_lines, (int)left)) break;
                }
            }
            Assert.Fail($"iperf: the expected line did not come within {Bound.TotalSeconds} s:\n{Describe()}");
            return "";
        }

        public string Describe() => string.Join('\n', Lines);

        public void Dispose()
        {
            try
            {
                if (!_process.HasExited) _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }
            _process.Dispose();
        }
    }
}
