using System.Diagnostics;
using System.Globalization;
using Dgram.Actors.Sockets;

namespace Dgram.Cli;

/// <summary>
/// What <c>dgram listen</c> counts: datagrams and payload bytes handed to it, truncated ones, and the
/// kernel's drops on the socket's full receive queue (SO_RXQ_OVFL: a cumulative count carried by the next
/// datagram queued after a drop). Formats the <c>--stats</c> interval lines and the summary line.
/// </summary>
internal sealed class ListenTally
{
    private readonly long _start = Stopwatch.GetTimestamp();
    private long _firstArrival, _lastArrival;
    private long _intervalStart, _intervalReceived, _intervalBytes, _intervalDrops, _intervalLost;

    public ListenTally() => _intervalStart = _start;

    public long Received { get; private set; }
    public long Bytes { get; private set; }
    public long Truncated { get; private set; }
    /// <summary>The kernel's drop count as the last datagram read carried it.</summary>
    public long KernelDrops { get; private set; }

    /// <summary>Counts datagram <paramref name="index"/> of <paramref name="batch"/>, read at <paramref name="now"/>.</summary>
    public void Add(DatagramBatch batch, int index, long now)
    {
        ref readonly ReceiveResult r = ref batch[index];
        if (Received == 0) _firstArrival = now;
        _lastArrival = now;
        Received++;
        Bytes += r.DatagramLength;
        if (r.Truncated) Truncated++;
        if (r.KernelDropCount is uint drops) KernelDrops = drops;
    }

    /// <summary>The <c>--stats</c> line for the interval ending at <paramref name="now"/>, and a new interval from then.</summary>
    public string IntervalLine(long now, long? seqLost)
    {
        double from = Seconds(_start, _intervalStart), to = Seconds(_start, now), length = to - from;
        long datagrams = Received - _intervalReceived, bytes = Bytes - _intervalBytes, drops = KernelDrops - _intervalDrops;
        string line = string.Create(CultureInfo.InvariantCulture,
            $"interval {from:0.0}-{to:0.0} s: {datagrams} datagrams, {bytes} bytes, {Rate(datagrams, length):0}/s, {Mbits(bytes, length):0.00} Mbit/s, kernel drops {drops}");
        if (seqLost is long lost) line += string.Create(CultureInfo.InvariantCulture, $", seq lost {lost - _intervalLost}");
        (_intervalStart, _intervalReceived, _intervalBytes, _intervalDrops, _intervalLost) = (now, Received, Bytes, KernelDrops, seqLost ?? 0);
        return line;
    }

    /// <summary>The summary printed at every exit; the rate is over first to last arrival.</summary>
    public string SummaryLine(long filteredByInterface)
    {
        double span = Received > 1 ? Seconds(_firstArrival, _lastArrival) : 0;
        return string.Create(CultureInfo.InvariantCulture,
            $"summary: received {Received} datagrams, {Bytes} bytes in {span:0.000} s ({Rate(Received - 1, span):0}/s, {Mbits(Bytes, span):0.00} Mbit/s), kernel drops {KernelDrops}, truncated {Truncated}, filtered by interface {filteredByInterface}");
    }

    private static double Seconds(long from, long to) => (double)(to - from) / Stopwatch.Frequency;

    private static double Rate(long count, double seconds) => seconds > 0 ? count / seconds : 0;

    private static double Mbits(long bytes, double seconds) => seconds > 0 ? bytes * 8 / seconds / 1e6 : 0;
}
