using System.Net;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Subjects;

namespace Dgram.Rx;

/// <summary>A datagram the user's parser rejected.</summary>
/// <param name="Datagram">The datagram.</param>
/// <param name="Error">What the parser threw.</param>
public readonly record struct DecodeFailure(Datagram Datagram, Exception Error);

/// <summary>Counters of a decode stage.</summary>
public sealed class DecodeStatistics
{
    internal long _decoded, _failed;

    /// <summary>Datagrams decoded.</summary>
    public long Decoded => Volatile.Read(ref _decoded);
    /// <summary>Datagrams the parser rejected (reported, not fatal).</summary>
    public long Failed => Volatile.Read(ref _failed);
}

/// <summary>One source's figures over one window.</summary>
/// <param name="Source">The sender's address.</param>
/// <param name="WindowEnd">When the window closed (scheduler time).</param>
/// <param name="Count">Datagrams received in the window.</param>
/// <param name="Bytes">Their payload bytes.</param>
/// <param name="RatePerSecond">Count divided by the window length.</param>
/// <param name="Lost">Sequence numbers skipped in the window (a gap of n counts n; late arrivals are not subtracted).</param>
/// <param name="OutOfOrder">Datagrams whose sequence number was not above the highest seen (late or duplicate).</param>
public readonly record struct SourceWindow(IPAddress Source, DateTimeOffset WindowEnd, long Count, long Bytes, double RatePerSecond, long Lost, long OutOfOrder);

/// <summary>Operators for multicast pipelines.</summary>
public static class DatagramOperators
{
    /// <summary>Only datagrams from <paramref name="source"/>.</summary>
    public static IObservable<Datagram> WhereSource(this IObservable<Datagram> stream, IPAddress source) =>
        stream.Where(d => d.SourceAddress is { } a && a.Equals(source));

    /// <summary>Only datagrams sent to <paramref name="group"/> (needs packet info, on by default for socket actors).</summary>
    public static IObservable<Datagram> WhereGroup(this IObservable<Datagram> stream, IPAddress group) =>
        stream.Where(d => d.Destination is { } g && g.Equals(group));

    /// <summary>One sub-stream per sender address.</summary>
    public static IObservable<IGroupedObservable<IPAddress, Datagram>> GroupBySource(this IObservable<Datagram> stream) =>
        stream.Where(d => d.SourceAddress is not null).GroupBy(d => d.SourceAddress!);

    /// <summary>
    /// Decodes each datagram with <paramref name="parser"/>. A datagram the parser rejects (throws) is
    /// counted and reported on <paramref name="failures"/>; the stream goes on.
    /// </summary>
    public static IObservable<T> Decode<T>(this IObservable<Datagram> stream, Func<Datagram, T> parser,
        IObserver<DecodeFailure>? failures = null, DecodeStatistics? statistics = null) =>
        Observable.Create<T>(observer => stream.Subscribe(
            d =>
            {
                T value;
                try
                {
                    value = parser(d);
                }
                catch (Exception e)
                {
                    if (statistics is not null) Interlocked.Increment(ref statistics._failed);
                    failures?.OnNext(new DecodeFailure(d, e));
                    return;
                }
                if (statistics is not null) Interlocked.Increment(ref statistics._decoded);
                observer.OnNext(value);
            },
            observer.OnError,
            observer.OnCompleted));

    /// <summary>
    /// Per-source rate and loss over consecutive windows of <paramref name="window"/> on
    /// <paramref name="scheduler"/>: at the end of each window, one <see cref="SourceWindow"/> per source
    /// seen in it. <paramref name="sequenceOf"/> reads the publisher's sequence number from a datagram
    /// (null when it has none); gaps count as loss, a lower or repeated number as out of order.
    /// </summary>
    public static IObservable<IReadOnlyList<SourceWindow>> SourceStatistics(this IObservable<Datagram> stream,
        Func<Datagram, long?> sequenceOf, TimeSpan window, IScheduler? scheduler = null)
    {
        scheduler ??= DefaultScheduler.Instance;
        IScheduler clock = scheduler;
        return Observable.Create<IReadOnlyList<SourceWindow>>(observer =>
        {
            var gate = new object();
            var current = new Dictionary<IPAddress, (long Count, long Bytes, long Lost, long OutOfOrder)>();
            var highest = new Dictionary<IPAddress, long>();
            bool ended = false;
            // Windows and the end of the stream are emitted under the gate: serialised, in order, nothing after the end.
            void Flush()
            {
                lock (gate)
                {
                    if (ended) return;
                    DateTimeOffset end = clock.Now;
                    SourceWindow[] figures = current.Select(kv => new SourceWindow(kv.Key, end, kv.Value.Count, kv.Value.Bytes,
                        kv.Value.Count / window.TotalSeconds, kv.Value.Lost, kv.Value.OutOfOrder)).ToArray();
                    current.Clear();
                    observer.OnNext(figures);
                }
            }
            IDisposable timer = Observable.Interval(window, clock).Subscribe(_ => Flush());
            IDisposable data = stream.Subscribe(d =>
            {
                if (d.SourceAddress is not { } source) return;
                lock (gate)
                {
                    var f = current.GetValueOrDefault(source);
                    f.Count++;
                    f.Bytes += d.Payload.Length;
                    if (sequenceOf(d) is long seq)
                    {
                        if (highest.TryGetValue(source, out long top))
                        {
                            if (seq > top + 1) f.Lost += seq - top - 1;
                            if (seq <= top) f.OutOfOrder++;
                        }
                        if (!highest.TryGetValue(source, out long h) || seq > h) highest[source] = seq;
                    }
                    current[source] = f;
                }
            }, error =>
            {
                lock (gate)
                {
                    if (ended) return;
                    ended = true;
                    observer.OnError(error);
                }
            }, () =>
            {
                Flush();
                lock (gate)
                {
                    if (ended) return;
                    ended = true;
                    observer.OnCompleted();
                }
            });
            return new System.Reactive.Disposables.CompositeDisposable(timer, data);
        });
    }
}
