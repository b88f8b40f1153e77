using System.Diagnostics;
using System.Net;
using Dgram.Actors.Sockets;
using Xunit;

namespace Dgram.Actors.Tests.Cluster;

/// <summary>
/// A paced stream of numbered datagrams ("seq-N") from one site's publisher, and what a receiver on another site got:
/// the runs of numbers that never arrived, each with the span of send time it covers (from the last number sent
/// before it that arrived to the first after it), duplicates and reordering. Stopping sends a marker that the
/// receiver waits for, so everything in flight has arrived or is lost.
/// </summary>
internal sealed class SequencedStream : IDisposable
{
    private readonly DatagramSocket _sender, _receiver;
    private readonly IPAddress _group;
    private readonly int _port, _rate;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<double> _sentAt = [];
    private readonly List<(long Seq, double At)> _got = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sending, _receiving;
    private readonly string _marker = "stop-" + Guid.NewGuid().ToString("N");
    private TaskCompletionSource _arrival = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public SequencedStream(DatagramSocket sender, DatagramSocket receiver, IPAddress group, int port, int rate)
    {
        (_sender, _receiver, _group, _port, _rate) = (sender, receiver, group, port, rate);
        _receiving = Task.Factory.StartNew(Receive, TaskCreationOptions.LongRunning);
        _sending = SendAsync();
    }

    /// <summary>Seconds since the stream started.</summary>
    public double Now => _clock.Elapsed.TotalSeconds;

    public int Received
    {
        get { lock (_got) return _got.Count; }
    }

    /// <summary>Waits until a datagram sent at or after <paramref name="sentAfter"/> (stream time) has arrived.</summary>
    public async Task WaitForArrivalSentAfterAsync(double sentAfter, TimeSpan timeout)
    {
        var until = Stopwatch.StartNew();
        while (true)
        {
            Task next = Volatile.Read(ref _arrival).Task; // taken before the check: an arrival after it completes it
            lock (_got)
            {
                if (_got.Count > 0 && SentAt(_got[^1].Seq) >= sentAfter) return;
            }
            TimeSpan left = timeout - until.Elapsed;
            Assert.True(left > TimeSpan.Zero && await Task.WhenAny(next, Task.Delay(left)) == next,
                $"nothing sent after t={sentAfter:F1} s arrived within {timeout} (received {Received}, now t={Now:F1} s)");
        }
    }

    private double SentAt(long seq)
    {
        lock (_sentAt) return _sentAt[(int)seq];
    }

    private async Task SendAsync()
    {
        // Paced by the clock: each tick of a 1 ms timer sends what is due.
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(1));
        long n = 0;
        try
        {
            while (await tick.WaitForNextTickAsync(_stop.Token))
            {
                long due = (long)(_clock.Elapsed.TotalSeconds * _rate);
                for (; n < due; n++)
                {
                    lock (_sentAt) _sentAt.Add(_clock.Elapsed.TotalSeconds);
                    BridgeLab.Send(_sender, _group, _port, "seq-" + n);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopped
        }
    }

    private void Receive()
    {
        var buffer = new byte[65_536];
        while (true)
        {
            ReceiveResult r = _receiver.ReceiveFrom(buffer, out _, TimeSpan.FromSeconds(60));
            if (r.Status != ReceiveStatus.Received) throw new TimeoutException($"the receiver got nothing for 60 s (received {Received})");
            string text = BridgeLab.Text(buffer, r);
            if (text == _marker) return;
            if (text.StartsWith("seq-", StringComparison.Ordinal))
            {
                lock (_got) _got.Add((long.Parse(text.AsSpan(4)), _clock.Elapsed.TotalSeconds));
                Interlocked.Exchange(ref _arrival, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            }
        }
    }

    /// <summary>Stops sending, sends the marker and waits for it: the result is final.</summary>
    public async Task<Result> StopAsync()
    {
        _stop.Cancel();
        await _sending;
        BridgeLab.Send(_sender, _group, _port, _marker);
        await _receiving.WaitAsync(TimeSpan.FromSeconds(60));
        long sent;
        lock (_sentAt) sent = _sentAt.Count;
        var seqs = _got.Select(g => g.Seq).ToList();
        var seen = new HashSet<long>();
        int duplicates = seqs.Count(s => !seen.Add(s));
        int reordered = seqs.Zip(seqs.Skip(1)).Count(p => p.Second < p.First);
        var gaps = new List<Gap>();
        for (long s = 0; s < sent; s++)
        {
            if (seen.Contains(s)) continue;
            long first = s;
            while (s + 1 < sent && !seen.Contains(s + 1)) s++;
            double from = first > 0 ? SentAt(first - 1) : 0, to = s + 1 < sent ? SentAt(s + 1) : Now;
            gaps.Add(new Gap(first, s, from, to));
        }
        return new Result(sent, seen.Count, duplicates, reordered, gaps);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }

    /// <summary>Numbers <see cref="First"/>..<see cref="Last"/> never arrived; they were sent between <see cref="From"/> and <see cref="To"/> (stream seconds).</summary>
    internal sealed record Gap(long First, long Last, double From, double To)
    {
        public long Count => Last - First + 1;
        public double Seconds => To - From;
    }

    internal sealed record Result(long Sent, long Distinct, int Duplicates, int Reordered, IReadOnlyList<Gap> Gaps)
    {
        public long Missing => Gaps.Sum(g => g.Count);

        public override string ToString() =>
            $"sent {Sent}, arrived {Distinct}, duplicates {Duplicates}, reordered {Reordered}, gaps: {string.Join("; ", Gaps.Select(g => $"{g.First}..{g.Last} ({g.Count}, {g.From:F2}-{g.To:F2} s = {g.Seconds:F2} s)"))}";
    }
}
