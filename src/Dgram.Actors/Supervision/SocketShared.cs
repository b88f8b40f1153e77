using System.Collections.Concurrent;
using Akka.Actor;
using Dgram.Actors.Diagnostics;
using Dgram.Actors.Protocol;

namespace Dgram.Actors.Supervision;

/// <summary>
/// A span-based consumer the read loop calls on its own thread for every datagram: no copy, no
/// allocation, no thread hop. The payload span is valid only during the call.
/// </summary>
public interface IDatagramHandler
{
    /// <summary>
    /// One datagram: payload, raw sender sockaddr, and what the kernel reported. Returns true when the
    /// handler consumed it; when no consumer did, the read loop counts it as dropped for want of one.
    /// </summary>
    bool OnDatagram(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> sourceAddress, in Sockets.ReceiveResult result, long sequence);

    /// <summary>A status event of the socket (restarting, restored, failed, stopped).</summary>
    void OnStatus(SocketStatus status);

    /// <summary>
    /// True while this handler wants the read loop to stop reading (its consumers are full). The loop
    /// checks it after each batch and parks at once, without a round trip through the mailbox; the
    /// kernel queue then fills and its drops are counted. Reading resumes when no handler wants a pause.
    /// </summary>
    bool PauseRequested => false;
}

/// <summary>
/// What outlives socket incarnations: subscribers, raw handlers, pending pulls, counters and the
/// sequence number. The parent creates it once and hands it to each incarnation; the read loop reads
/// the subscriber arrays without locks (copy-on-write).
/// </summary>
internal sealed class SocketShared(string name)
{
    private readonly object _lock = new();
    private IActorRef[] _subscribers = [];
    private IDatagramHandler[] _handlers = [];
    private long _sequence, _datagramSequence;

    internal long _received, _bytesReceived, _sent, _bytesSent, _sendFailures, _receiveErrors, _noConsumer, _kernelDrops, _restarts, _restored;

    public string Name { get; } = name;
    public KeyValuePair<string, object?> Tag { get; } = DgramMetrics.Tag(name);
    public ConcurrentQueue<PendingPull> Pulls { get; } = new();

    public IActorRef[] Subscribers => Volatile.Read(ref _subscribers);
    public IDatagramHandler[] Handlers => Volatile.Read(ref _handlers);

    /// <summary>The next command sequence number (global order of applied commands).</summary>
    public long NextSequence() => Interlocked.Increment(ref _sequence);

    /// <summary>The next datagram number (read loop only).</summary>
    public long NextDatagram() => ++_datagramSequence;

    public bool AddSubscriber(IActorRef subscriber)
    {
        lock (_lock)
        {
            if (_subscribers.Contains(subscriber)) return false;
            Volatile.Write(ref _subscribers, [.. _subscribers, subscriber]);
            return true;
        }
    }

    public bool RemoveSubscriber(IActorRef subscriber)
    {
        lock (_lock)
        {
            if (!_subscribers.Contains(subscriber)) return false;
            Volatile.Write(ref _subscribers, _subscribers.Where(s => !s.Equals(subscriber)).ToArray());
            return true;
        }
    }

    public void AddHandler(IDatagramHandler handler)
    {
        lock (_lock) Volatile.Write(ref _handlers, [.. _handlers, handler]);
    }

    public void RemoveHandler(IDatagramHandler handler)
    {
        lock (_lock) Volatile.Write(ref _handlers, _handlers.Where(h => !ReferenceEquals(h, handler)).ToArray());
    }

    /// <summary>Tells every subscriber and handler a status event.</summary>
    public void Publish(SocketStatus status)
    {
        foreach (IActorRef s in Subscribers) s.Tell(status, ActorRefs.NoSender);
        foreach (IDatagramHandler h in Handlers)
        {
            try
            {
                h.OnStatus(status);
            }
            catch (Exception)
            {
                Interlocked.Increment(ref _handlerFaults); // user code must not stop the socket or its supervisor
            }
        }
    }

    internal long _handlerFaults;

    public SocketCounters Counters() => new(
        Volatile.Read(ref _received), Volatile.Read(ref _bytesReceived), Volatile.Read(ref _sent), Volatile.Read(ref _bytesSent),
        Volatile.Read(ref _sendFailures), Volatile.Read(ref _receiveErrors), Volatile.Read(ref _noConsumer),
        Volatile.Read(ref _kernelDrops), Volatile.Read(ref _restarts), Volatile.Read(ref _restored));

    /// <summary>Counts datagrams sent in one go (a batch), with one metric update each.</summary>
    public void CountSent(long datagrams, long bytes)
    {
        if (datagrams == 0) return;
        Interlocked.Add(ref _sent, datagrams);
        Interlocked.Add(ref _bytesSent, bytes);
        DgramMetrics.DatagramsSent.Add(datagrams, Tag);
        DgramMetrics.BytesSent.Add(bytes, Tag);
    }

    public void CountSend(Sockets.SendResult result)
    {
        if (result.Status == Sockets.SendStatus.Sent)
        {
            CountSent(1, result.BytesSent);
        }
        else
        {
            Interlocked.Increment(ref _sendFailures);
            DgramMetrics.SendFailures.Add(1, Tag);
        }
    }

    public void CountRestart()
    {
        Interlocked.Increment(ref _restarts);
        DgramMetrics.Restarts.Add(1, Tag);
    }

    public void CountRestored()
    {
        Interlocked.Increment(ref _restored);
        DgramMetrics.MembershipsRestored.Add(1, Tag);
    }
}

/// <summary>A pull receive waiting for the next datagram; claimed once, by the read loop or by its timeout.</summary>
internal sealed class PendingPull(IActorRef replyTo)
{
    private int _claimed;

    public IActorRef ReplyTo { get; } = replyTo;

    public bool TryClaim() => Interlocked.Exchange(ref _claimed, 1) == 0;
}
