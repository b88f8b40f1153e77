using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Supervision;
using Dgram.Rx.Internal;

namespace Dgram.Rx;

/// <summary>
/// The hot streams of one socket actor. Each subscription sees only datagrams that arrive after it
/// subscribed and has its own buffer and overflow policy (or runs inline on the read loop); one slow
/// subscriber never delays the others. With no subscriber the read loop keeps reading and counts what
/// nobody consumed, so nothing stale is ever delivered as new.
/// </summary>
/// <remarks>
/// Streams survive a supervised restart of the socket: no OnError/OnCompleted on a recoverable fault
/// (watch <see cref="Status"/> for restarting/restored), OnError with the cause when the socket cannot
/// be recovered, OnCompleted when the socket is stopped normally or this object is disposed.
/// Ownership: <see cref="Datagrams"/> hands out payloads the receiver owns (one right-sized array per
/// datagram); <see cref="Leases"/> hands out pooled buffers the receiver must dispose (zero allocations).
/// </remarks>
public sealed class DatagramStreams : IDisposable
{
    private readonly DatagramHub _hub;
    private readonly LeaseConverter _leases;
    private int _disposed;

    private DatagramStreams(DatagramHub hub, LeasePool pool)
    {
        _hub = hub;
        Pool = pool;
        _leases = new LeaseConverter(pool);
    }

    /// <summary>Registers the streams' handler with the socket's read loop.</summary>
    public static async Task<DatagramStreams> OpenAsync(SocketClient client, LeasePool? pool = null)
    {
        var hub = new DatagramHub(client, client.Socket.Path.Name);
        await client.AddHandlerAsync(hub).ConfigureAwait(false);
        return new DatagramStreams(hub, pool ?? new LeasePool());
    }

    /// <summary>The pool behind <see cref="Leases"/> (its <see cref="LeasePool.Outstanding"/> shows undisposed leases).</summary>
    public LeasePool Pool { get; }

    /// <summary>
    /// The handler these streams registered with the socket's read loop: the read loop calls it once per
    /// datagram and it fans the datagram out to every subscriber (the micro benchmark drives it directly).
    /// </summary>
    internal IDatagramHandler Handler => _hub;

    /// <summary>The socket's status events: restarting, restored, membership pending/restored, receive errors, failed, stopped.</summary>
    public IObservable<SocketStatus> Status => _hub.Status;

    /// <summary>Received datagrams with owned payloads.</summary>
    public IObservable<Datagram> Datagrams(SubscriberOptions? options = null) => Stream(OwnedConverter.Instance, options);

    /// <summary>Received datagrams in pooled buffers: dispose each lease.</summary>
    public IObservable<DatagramLease> Leases(SubscriberOptions? options = null) => Stream(_leases, options);

    private IObservable<T> Stream<T>(IDatagramConverter<T> converter, SubscriberOptions? options)
    {
        options ??= SubscriberOptions.Default;
        if (options.Capacity < 1) throw new ArgumentOutOfRangeException(nameof(options), "Capacity must be at least 1");
        return new HubObservable<T>(_hub, converter, options);
    }

    /// <summary>Detaches from the read loop and completes every subscription. Idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _hub.Terminate(null);
        // Best effort: a stopped socket has nothing to detach from.
        _hub.Client.RemoveHandlerAsync(_hub).ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
    }

    /// <summary>
    /// The streams' observable. Not Observable.Create: its auto-detaching wrapper would silently swallow
    /// an item in flight at disposal, and a lease swallowed there never returns to the pool.
    /// </summary>
    private sealed class HubObservable<T>(DatagramHub hub, IDatagramConverter<T> converter, SubscriberOptions options) : IObservable<T>
    {
        public IDisposable Subscribe(IObserver<T> observer)
        {
            ArgumentNullException.ThrowIfNull(observer);
            HubSubscriber subscriber = options.Inline
                ? new InlineSubscriber<T>(hub, observer, converter, options.Statistics)
                : new BufferedSubscriber<T>(hub, observer, converter, options);
            return hub.Add(subscriber);
        }
    }
}

/// <summary>Entry points on the socket client.</summary>
public static class SocketClientRxExtensions
{
    /// <summary>Opens the hot streams of this socket (<see cref="DatagramStreams"/>).</summary>
    public static Task<DatagramStreams> OpenStreamsAsync(this SocketClient client, LeasePool? pool = null) => DatagramStreams.OpenAsync(client, pool);

    /// <summary>
    /// A send sink: an observer of outgoing datagrams that sends each through the socket actor, in
    /// order, and a stream of outcomes in the same order. Failures are outcomes, never thrown into
    /// the producer. The outcomes complete (or fail) after the last send when the producer does. At most
    /// <paramref name="maxInFlight"/> sends wait for their answer; beyond, the outcome is an overload error.
    /// </summary>
    public static SendSink SendSink(this SocketClient client, int maxInFlight = 1024) => new(client, maxInFlight);
}
