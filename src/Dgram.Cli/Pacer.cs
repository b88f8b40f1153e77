using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Dgram.Cli;

/// <summary>
/// A token bucket on the monotonic clock (<see cref="Stopwatch"/>, CLOCK_MONOTONIC on Linux): datagram k is due at
/// origin + k / rate, computed from the origin rather than from the previous send, so rounding and late wake-ups do
/// not accumulate into drift over a long run. The bucket holds at most <c>burst</c> datagrams: a sender that falls
/// further behind (descheduled, a full send buffer) forgives the rest rather than catching up in a flood.
/// </summary>
internal sealed partial class Pacer
{
    private readonly double _ticksPerDatagram;
    private readonly int _burst;
    private long _origin = Stopwatch.GetTimestamp();
    private long _taken;

    /// <param name="perSecond">Datagrams per second; null: no pacing (every call gets <paramref name="burst"/>).</param>
    /// <param name="burst">The bucket's depth: the most datagrams one call may send at once (one GSO call).</param>
    public Pacer(double? perSecond, int burst)
    {
        _ticksPerDatagram = perSecond is { } r ? Stopwatch.Frequency / r : 0;
        _burst = burst;
    }

    /// <summary>
    /// Makes now the time the datagrams taken so far were due: called after the first send, whose JIT and first system
    /// call take milliseconds (some 300 datagrams at 100 Mbit/s) that would otherwise be forgiven as a stall.
    /// </summary>
    public long Restart()
    {
        long now = Stopwatch.GetTimestamp();
        _origin = now - (long)((_taken - 1) * _ticksPerDatagram);
        return _origin;
    }

    /// <summary>When the next datagram is due (<see cref="Stopwatch"/> ticks): the end of the last one's slot.</summary>
    public long NextDue => _origin + (long)Math.Ceiling(_taken * _ticksPerDatagram);

    /// <summary>Waits until at least one datagram is due and takes up to <paramref name="max"/> of those due; 0 when cancelled.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // its wait loop, as PacedSender.Run's
    public int Take(int max, CancellationToken cancel)
    {
        if (_ticksPerDatagram == 0) return cancel.IsCancellationRequested ? 0 : Math.Min(max, _burst);
        while (!cancel.IsCancellationRequested)
        {
            long now = Stopwatch.GetTimestamp();
            double due = Math.Floor((now - _origin) / _ticksPerDatagram) + 1 - _taken;
            if (due >= 1)
            {
                if (due > _burst)
                {
                    _origin = now - (long)((_burst - 1) * _ticksPerDatagram);
                    _taken = 0;
                    due = _burst;
                }
                int n = (int)Math.Min(due, Math.Min(max, _burst));
                _taken += n;
                return n;
            }
            Sleep(NextDue - now, cancel);
        }
        return 0;
    }

    /// <summary>Sleeps until <paramref name="timestamp"/> (<see cref="Stopwatch"/> ticks) or cancellation.</summary>
    public static void SleepUntil(long timestamp, CancellationToken cancel)
    {
        long now;
        while (!cancel.IsCancellationRequested && (now = Stopwatch.GetTimestamp()) < timestamp) Sleep(timestamp - now, cancel);
    }

    /// <summary>
    /// Sleeps about <paramref name="ticks"/>. .NET sleeps in whole milliseconds, too coarse for 100 Mbit/s of 200 B
    /// datagrams (one every 16 µs): shorter waits go to nanosleep, longer ones to the cancellation handle so SIGINT
    /// ends them at once (a wake-up up to 1 ms early just loops).
    /// </summary>
    private static void Sleep(long ticks, CancellationToken cancel)
    {
        if (ticks <= 0) return;
        long ns = (long)(ticks * (1e9 / Stopwatch.Frequency));
        if (ns >= 2_000_000)
        {
            cancel.WaitHandle.WaitOne(TimeSpan.FromTicks(ns / 100));
            return;
        }
        Timespec t = new() { Seconds = 0, Nanoseconds = ns };
        _ = NanoSleep(in t, IntPtr.Zero); // EINTR: the loop recomputes and sleeps again
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "nanosleep")]
    private static partial int NanoSleep(in Timespec request, IntPtr remaining);
}
