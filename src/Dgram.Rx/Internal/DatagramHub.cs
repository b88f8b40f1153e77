using System.Net;
using System.Reactive.Subjects;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Supervision;

namespace Dgram.Rx.Internal;

/// <summary>One received datagram as the read loop sees it: spans valid only during the call.</summary>
internal readonly ref struct RawDatagram
{
    public ReadOnlySpan<byte> Payload { get; init; }
    public EndPoint? Source { get; init; }
    public IPAddress? Destination { get; init; }
    public int InterfaceIndex { get; init; }
    public int HopLimit { get; init; }
    public long TimestampNanoseconds { get; init; }
    public long Sequence { get; init; }
    public bool Truncated { get; init; }
    public int Length { get; init; }
}

/// <summary>
/// The socket's one span handler for all Rx subscribers: registered with the read loop once, it fans
/// each datagram out to every current subscriber (each with its own buffer, or inline). It survives
/// socket restarts because the handler registry lives in the socket's supervisor.
/// </summary>
internal sealed class DatagramHub : IDatagramHandler
{
    private readonly object _lock = new();
    private readonly SocketAddressCache _sources = new();
    private readonly ISubject<SocketStatus> _status = Subject.Synchronize(new Subject<SocketStatus>());
    private HubSubscriber[] _subscribers = [];
    private IPAddress? _lastDestination;
    private Exception? _error;
    private bool _completed;
    private int _pauseRequests;

    public DatagramHub(SocketClient client, string name)
    {
        Client = client;
        Name = name;
    }

    public SocketClient Client { get; }
    public string Name { get; }
    public IObservable<SocketStatus> Status => _status;

    public bool OnDatagram(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> sourceAddress, in ReceiveResult result, long sequence)
    {
        HubSubscriber[] subscribers = Volatile.Read(ref _subscribers);
        if (subscribers.Length == 0) return false;
        IPAddress? destination = null;
        if (result.HasDestination)
        {
            // Reuse the last destination object while it repeats (one group is the common case).
            if (_lastDestination is null || !result.DestinationEquals(_lastDestination)) _lastDestination = result.GetDestinationAddress();
            destination = _lastDestination;
        }
        var raw = new RawDatagram
        {
            Payload = payload, Source = _sources.Get(sourceAddress), Destination = destination, InterfaceIndex = result.InterfaceIndex,
            HopLimit = result.HopLimit, TimestampNanoseconds = result.TimestampNanoseconds, Sequence = sequence, Truncated = result.Truncated,
            Length = result.DatagramLength,
        };
        foreach (HubSubscriber s in subscribers) s.Offer(in raw);
        return true;
    }

    public void OnStatus(SocketStatus status)
    {
        try
        {
            _status.OnNext(status);
        }
        catch (Exception)
        {
            // A status observer without an error handler rethrows; it must not stop the others.
        }
        switch (status)
        {
            case SocketFailed failed:
                Terminate(failed.Cause);
                break;
            case SocketStopped:
                Terminate(null);
                break;
        }
    }

    /// <summary>Ends every subscription (error, or completed for null) and refuses new ones the same way.</summary>
    public void Terminate(Exception? error)
    {
        HubSubscriber[] subscribers;
        lock (_lock)
        {
            if (_completed || _error is not null) return;
            if (error is null) _completed = true;
            else _error = error;
            subscribers = _subscribers;
            _subscribers = [];
        }
        foreach (HubSubscriber s in subscribers) s.Terminate(error);
        try
        {
            if (error is null) _status.OnCompleted();
            else _status.OnError(error);
        }
        catch (Exception)
        {
            // Rx rethrows OnError to an observer without an error handler; the subscriptions are ended anyway.
        }
    }

    public IDisposable Add(HubSubscriber subscriber)
    {
        lock (_lock)
        {
            if (_error is not null || _completed)
            {
                subscriber.Terminate(_error);
                return subscriber;
            }
            if (subscriber.PausesSocket && _subscribers.Any(s => !s.PausesSocket) || !subscriber.PausesSocket && _subscribers.Any(s => s.PausesSocket))
            {
                subscriber.Terminate(new InvalidOperationException(
                    $"socket {Name}: OverflowPolicy.PauseSocket stops every subscriber, so all subscribers of a socket must ask for it or none"));
                return subscriber;
            }
            _subscribers = [.. _subscribers, subscriber];
        }
        return subscriber;
    }

    public void Remove(HubSubscriber subscriber)
    {
        lock (_lock) _subscribers = _subscribers.Where(s => !ReferenceEquals(s, subscriber)).ToArray();
    }

    /// <summary>Read by the read loop after each batch: it parks while any PauseSocket subscriber is full.</summary>
    public bool PauseRequested => Volatile.Read(ref _pauseRequests) > 0;

    /// <summary>A PauseSocket subscriber is full: the read loop parks after its current batch.</summary>
    public void RequestPause() => Interlocked.Increment(ref _pauseRequests);

    /// <summary>It drained: the read loop resumes when no subscriber still wants the pause.</summary>
    public void ReleasePause() => Interlocked.Decrement(ref _pauseRequests);
}
