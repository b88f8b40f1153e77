using System.Diagnostics.Metrics;

namespace Dgram.Rx.Internal;

/// <summary>Turns a raw datagram into what a subscriber receives, and releases what it did not deliver.</summary>
internal interface IDatagramConverter<T>
{
    T Convert(in RawDatagram raw);
    void Release(T item);
}

internal sealed class OwnedConverter : IDatagramConverter<Datagram>
{
    public static readonly OwnedConverter Instance = new();

    public Datagram Convert(in RawDatagram raw) => new(raw.Payload.ToArray(), raw.Source, raw.Destination, raw.InterfaceIndex,
        raw.HopLimit, raw.TimestampNanoseconds, raw.Sequence, raw.Truncated, raw.Length);

    public void Release(Datagram item) { }
}

internal sealed class LeaseConverter(LeasePool pool) : IDatagramConverter<DatagramLease>
{
    public DatagramLease Convert(in RawDatagram raw)
    {
        LeaseSlot slot = pool.Rent(raw.Payload.Length, out byte[] buffer);
        return slot.Fill(in raw, buffer);
    }

    public void Release(DatagramLease item) => item.Dispose();
}

/// <summary>One Rx subscription of a hub.</summary>
internal abstract class HubSubscriber : IDisposable
{
    public abstract bool PausesSocket { get; }
    public abstract void Offer(in RawDatagram raw);
    public abstract void Terminate(Exception? error);
    public abstract void Dispose();
}

/// <summary>
/// Calls OnNext on the read loop's thread: no buffer, no hop. The read loop is one thread, so calls are
/// serialised. An observer that throws is detached (counted), never allowed to stop the read loop.
/// </summary>
internal sealed class InlineSubscriber<T>(DatagramHub hub, IObserver<T> observer, IDatagramConverter<T> converter, SubscriberStatistics? stats) : HubSubscriber
{
    // Serialises the read loop's OnNext with a terminal notification from another thread; uncontended
    // on the read loop's path (no allocation).
    private readonly object _gate = new();
    private bool _done;

    public override bool PausesSocket => false;

    public override void Offer(in RawDatagram raw)
    {
        lock (_gate)
        {
            if (_done) return;
            T item = converter.Convert(in raw);
            try
            {
                observer.OnNext(item);
                if (stats is not null) Interlocked.Increment(ref stats._delivered);
            }
            catch (Exception)
            {
                // An observer that throws has broken its subscription: drop it, never the read loop.
                DgramRxMetrics.ObserverFaults.Add(1, new KeyValuePair<string, object?>("socket", hub.Name));
                _done = true;
                hub.Remove(this);
            }
        }
    }

    public override void Terminate(Exception? error)
    {
        lock (_gate)
        {
            if (_done) return;
            _done = true;
            hub.Remove(this);
            try
            {
                if (error is null) observer.OnCompleted();
                else observer.OnError(error);
            }
            catch (Exception)
            {
                DgramRxMetrics.ObserverFaults.Add(1, new KeyValuePair<string, object?>("socket", hub.Name));
            }
        }
    }

    public override void Dispose()
    {
        lock (_gate) _done = true;
        hub.Remove(this);
    }
}

/// <summary>
/// A bounded ring buffer per subscriber, drained by the subscriber's own delivery thread
/// (<c>dgram-rx-SOCKET</c>), so OnNext calls are serialised and a slow subscriber delays nobody else.
/// The read loop never waits for it: a full buffer applies the overflow policy, and every drop is
/// counted. Zero allocations per datagram: ring slots are reused and the lease path rents pooled
/// buffers. (A thread-pool work item per wake-up was tried first: the pool's queue allocated about
/// 13 B per datagram.)
/// </summary>
internal sealed class BufferedSubscriber<T> : HubSubscriber
{
    private readonly DatagramHub _hub;
    private readonly IObserver<T> _observer;
    private readonly IDatagramConverter<T> _converter;
    private readonly SubscriberOptions _options;
    private readonly T[] _ring;
    private readonly object _lock = new();
    private readonly KeyValuePair<string, object?> _tag;
    private readonly SemaphoreSlim _wake = new(0);
    private int _head, _count;
    private bool _signalled, _terminal, _disposed, _pausing;
    private Exception? _error;
    private const int MaxBatch = 1024; // SocketSettings.BatchSize's upper bound

    public BufferedSubscriber(DatagramHub hub, IObserver<T> observer, IDatagramConverter<T> converter, SubscriberOptions options)
    {
        _hub = hub;
        _observer = observer;
        _converter = converter;
        _options = options;
        // PauseSocket needs headroom for the rest of the batch the read loop is dispatching when it fills.
        _ring = new T[options.Overflow == OverflowPolicy.PauseSocket ? options.Capacity + MaxBatch : options.Capacity];
        _tag = new KeyValuePair<string, object?>("socket", hub.Name);
        new Thread(Run) { IsBackground = true, Name = "dgram-rx-" + hub.Name }.Start();
    }

    public override bool PausesSocket => _options.Overflow == OverflowPolicy.PauseSocket;

    /// <summary>Called on the read loop's thread: queue, or apply the overflow policy. Never blocks.</summary>
    public override void Offer(in RawDatagram raw)
    {
        T? dropped = default;
        bool drop = false, signal = false, pause = false;
        lock (_lock)
        {
            if (_terminal || _disposed) return;
            bool full = PausesSocket ? _count == _ring.Length : _count >= _options.Capacity;
            if (full)
            {
                switch (_options.Overflow)
                {
                    case OverflowPolicy.DropOldest:
                        dropped = _ring[_head];
                        _ring[_head] = default!;
                        _head = (_head + 1) % _ring.Length;
                        _count--;
                        drop = true;
                        break;
                    case OverflowPolicy.Fail:
                        _terminal = true;
                        _error = new SubscriberOverflowException(_hub.Name, _options.Capacity);
                        signal = Signal();
                        break;
                    default: // DropNewest, and PauseSocket past its headroom
                        Dropped();
                        return;
                }
            }
            if (!_terminal)
            {
                _ring[(_head + _count) % _ring.Length] = _converter.Convert(in raw);
                _count++;
                if (PausesSocket && !_pausing && _count >= _options.Capacity)
                {
                    _pausing = true;
                    pause = true;
                }
                signal = Signal();
            }
        }
        if (drop)
        {
            _converter.Release(dropped!);
            Dropped();
        }
        if (pause) _hub.RequestPause();
        if (signal) _wake.Release();
    }

    /// <summary>True when the delivery thread must be woken (called under the lock).</summary>
    private bool Signal()
    {
        if (_signalled) return false;
        _signalled = true;
        return true;
    }

    private void Dropped()
    {
        if (_options.Statistics is { } s) Interlocked.Increment(ref s._dropped);
        DgramRxMetrics.SubscriberDrops.Add(1, _tag);
    }

    /// <summary>The delivery thread: sleeps until signalled, then drains; ends with the subscription.</summary>
    private void Run()
    {
        while (true)
        {
            _wake.Wait();
            while (true)
            {
                T item;
                bool release = false;
                bool finish = false;
                lock (_lock)
                {
                    if (_disposed) return;
                    if (_count == 0)
                    {
                        _signalled = false;
                        if (!_terminal) break;
                        _disposed = true;
                        finish = true;
                        item = default!;
                    }
                    else
                    {
                        item = _ring[_head];
                        _ring[_head] = default!;
                        _head = (_head + 1) % _ring.Length;
                        _count--;
                        if (_pausing && _count <= _options.Capacity / 2)
                        {
                            _pausing = false;
                            release = true;
                        }
                    }
                }
                if (finish)
                {
                    Finish(); // outside the lock: the read loop must never wait for user code
                    return;
                }
                if (release) _hub.ReleasePause();
                try
                {
                    _observer.OnNext(item);
                    if (_options.Statistics is { } s) Interlocked.Increment(ref s._delivered);
                }
                catch (Exception)
                {
                    // The observer broke its own subscription (Rx detaches it); the other subscribers go on.
                    DgramRxMetrics.ObserverFaults.Add(1, _tag);
                    Dispose();
                    return;
                }
            }
        }
    }

    /// <summary>The terminal notification, after every queued datagram (on the delivery thread, outside the lock).</summary>
    private void Finish()
    {
        _hub.Remove(this);
        if (_pausing)
        {
            _pausing = false;
            _hub.ReleasePause();
        }
        try
        {
            if (_error is null) _observer.OnCompleted();
            else _observer.OnError(_error);
        }
        catch (Exception)
        {
            DgramRxMetrics.ObserverFaults.Add(1, _tag);
        }
    }

    public override void Terminate(Exception? error)
    {
        bool signal;
        lock (_lock)
        {
            if (_terminal || _disposed) return;
            _terminal = true;
            _error = error;
            signal = Signal();
        }
        // Queued datagrams are delivered first, then the terminal notification.
        if (signal) _wake.Release();
    }

    /// <summary>Stops delivery, releases every queued item (leases go back to the pool) and ends the thread.</summary>
    public override void Dispose()
    {
        bool wasPausing;
        T[] leftovers;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            wasPausing = _pausing;
            _pausing = false;
            leftovers = new T[_count];
            for (int i = 0; i < _count; i++)
            {
                leftovers[i] = _ring[(_head + i) % _ring.Length];
                _ring[(_head + i) % _ring.Length] = default!;
            }
            _count = 0;
        }
        _wake.Release(); // the thread sees _disposed and ends
        _hub.Remove(this);
        foreach (T item in leftovers) _converter.Release(item);
        if (wasPausing) _hub.ReleasePause();
    }
}
