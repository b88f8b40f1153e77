using Akka.Actor;
using Dgram.Actors.Actors;
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

    /// <summary>
    /// The read loop delivered the last datagram of one read (up to <c>BatchSize</c> datagrams): a handler that
    /// gathers datagrams flushes here, so nothing waits longer than one read while the kernel queue is drained.
    /// </summary>
    void OnBatchEnd() { }
}

/// <summary>
/// What outlives socket incarnations: subscribers, raw handlers, pending pulls, counters and the
/// sequence number. The parent creates it once and hands it to each incarnation; the read loop reads
/// the subscriber arrays without locks (copy-on-write).
/// </summary>
internal sealed class SocketShared(string name)
{
    private readonly object _lock = new();
    private ActorSubscriber[] _subscribers = [];
    private IDatagramHandler[] _handlers = [];
    private long _sequence, _datagramSequence, _lastDone;

    internal long _received, _bytesReceived, _sent, _bytesSent, _sendFailures, _receiveErrors, _noConsumer, _kernelDrops, _restarts, _restored,
        _subscriberDrops, _commandsRefused;

    public string Name { get; } = name;
    public KeyValuePair<string, object?> Tag { get; } = DgramMetrics.Tag(name);
    public PullQueue Pulls { get; } = new();

    public ActorSubscriber[] Subscribers => Volatile.Read(ref _subscribers);
    public IDatagramHandler[] Handlers => Volatile.Read(ref _handlers);

    /// <summary>The next command sequence number (global order of applied commands).</summary>
    public long NextSequence() => Interlocked.Increment(ref _sequence);

    /// <summary>The next datagram number (engine thread only).</summary>
    public long NextDatagram() => ++_datagramSequence;

    /// <summary>Skips <paramref name="count"/> datagram numbers (read and discarded).</summary>
    public void NextDatagrams(long count) => _datagramSequence += count;

    /// <summary>The current incarnation's reader while the engine reads it; null between incarnations.</summary>
    public Engine.SocketReader? Reader
    {
        get => Volatile.Read(ref _reader);
        set => Volatile.Write(ref _reader, value);
    }

    private Engine.SocketReader? _reader;

    /// <summary>
    /// Consumers changed: the engine re-evaluates how it reads the socket (a first push consumer discards what
    /// waited in the kernel queue), then <paramref name="done"/> runs, so a reply sent from it is never
    /// followed by a datagram that arrived before it. With no reader it runs at once.
    /// </summary>
    public void ConsumersChanged(Action? done)
    {
        if (Reader is { } reader) reader.RequestUpdate(done);
        else done?.Invoke();
    }

    /// <summary>
    /// The highest dispatched command id an incarnation has answered. Written before the answer's Done message
    /// is told, so the supervisor never answers or re-sends a command that was answered, whatever order the
    /// Done and a Terminated arrive in.
    /// </summary>
    public long LastDone
    {
        get => Volatile.Read(ref _lastDone);
        set => Volatile.Write(ref _lastDone, value);
    }

    /// <summary>Adds a subscriber, or changes the limit of one already there. False for an actor whose mailbox cannot be seen.</summary>
    public bool AddSubscriber(IActorRef actor, MailboxLimit limit, IActorRefProvider provider)
    {
        if (ActorSubscriber.TryCreate(actor, limit, provider) is not { } subscriber) return false;
        lock (_lock)
        {
            ActorSubscriber[] current = _subscribers;
            int i = Array.FindIndex(current, s => s.Actor.Equals(actor));
            ActorSubscriber[] next = [.. current];
            if (i < 0) next = [.. current, subscriber];
            else
            {
                current[i].Ended = true;
                next[i] = subscriber;
            }
            Volatile.Write(ref _subscribers, next);
            return true;
        }
    }

    public bool RemoveSubscriber(IActorRef actor)
    {
        lock (_lock) return Remove(Array.Find(_subscribers, x => x.Actor.Equals(actor)));
    }

    /// <summary>Removes this subscription, not a newer one of the same actor (a limit changed meanwhile).</summary>
    public bool RemoveSubscriber(ActorSubscriber subscriber)
    {
        lock (_lock) return Remove(Array.Find(_subscribers, x => ReferenceEquals(x, subscriber)));
    }

    private bool Remove(ActorSubscriber? s)
    {
        if (s is null) return false;
        s.Ended = true;
        Volatile.Write(ref _subscribers, _subscribers.Where(x => !ReferenceEquals(x, s)).ToArray());
        return true;
    }

    public void AddHandler(IDatagramHandler handler)
    {
        lock (_lock) Volatile.Write(ref _handlers, [.. _handlers, handler]);
    }

    public void RemoveHandler(IDatagramHandler handler)
    {
        lock (_lock) Volatile.Write(ref _handlers, _handlers.Where(h => !ReferenceEquals(h, handler)).ToArray());
    }

    /// <summary>Counts datagrams an actor subscriber's bound kept from it.</summary>
    public void CountSubscriberDrops(long drops)
    {
        if (drops == 0) return;
        Interlocked.Add(ref _subscriberDrops, drops);
        DgramMetrics.SubscriberDrops.Add(drops, Tag);
    }

    /// <summary>Counts a command refused because the socket's queue was full.</summary>
    public void CountRefused()
    {
        Interlocked.Increment(ref _commandsRefused);
        DgramMetrics.CommandsRefused.Add(1, Tag);
    }

    /// <summary>Tells every subscriber and handler a status event.</summary>
    public void Publish(SocketStatus status)
    {
        // Events are few and each matters, so they are told whatever the bound; a receive error is per
        // datagram (an ICMP flood on a connected socket), so it is not told to a full mailbox.
        foreach (ActorSubscriber s in Subscribers)
        {
            if (status is ReceiveErrorReported && !s.HalfEmpty) continue;
            s.Actor.Tell(status, ActorRefs.NoSender);
        }
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
        Volatile.Read(ref _kernelDrops), Volatile.Read(ref _restarts), Volatile.Read(ref _restored),
        Volatile.Read(ref _subscriberDrops), Volatile.Read(ref _commandsRefused));

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

/// <summary>A pull receive waiting for the next datagram; claimed once, by the read loop, its timeout or the stop.</summary>
internal sealed class PendingPull(SocketProtocol.Receive command, IActorRef replyTo)
{
    private int _claimed;

    public SocketProtocol.Receive Command { get; } = command;

    public IActorRef ReplyTo { get; } = replyTo;

    /// <summary>Its place in the <see cref="PullQueue"/> (removal in O(1)); guarded by the queue's lock.</summary>
    internal LinkedListNode<PendingPull>? Node { get; set; }

    /// <summary>The timeout's scheduled message, cancelled when the pull is claimed otherwise, so answered pulls leave no timer behind.</summary>
    public ICancelable? Timer { get; set; }

    public bool TryClaim()
    {
        if (Interlocked.Exchange(ref _claimed, 1) != 0) return false;
        Timer?.Cancel();
        return true;
    }
}

/// <summary>
/// Pending pulls in arrival order. The read loop takes the oldest; a pull that times out leaves the queue
/// at once (not when traffic next arrives), so waiting pulls are exactly the ones that can still be answered.
/// </summary>
internal sealed class PullQueue
{
    private readonly LinkedList<PendingPull> _pulls = new();
    private volatile int _count;

    public int Count => _count;

    public void Add(PendingPull pull)
    {
        lock (_pulls)
        {
            pull.Node = _pulls.AddLast(pull);
            _count = _pulls.Count;
        }
    }

    public void Remove(PendingPull pull)
    {
        lock (_pulls)
        {
            if (pull.Node is not { List: not null } node) return;
            _pulls.Remove(node);
            pull.Node = null;
            _count = _pulls.Count;
        }
    }

    /// <summary>The oldest pull, claimed; null when none waits. Lock-free when the queue is empty (the read loop's usual case).</summary>
    public PendingPull? TakeOldest()
    {
        if (_count == 0) return null;
        lock (_pulls)
        {
            while (_pulls.First is { } first)
            {
                _pulls.RemoveFirst();
                first.Value.Node = null;
                _count = _pulls.Count;
                if (first.Value.TryClaim()) return first.Value;
            }
            return null;
        }
    }
}
