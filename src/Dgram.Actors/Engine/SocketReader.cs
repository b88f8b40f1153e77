using Akka.Actor;
using Dgram.Actors.Actors;
using Dgram.Actors.Diagnostics;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;
using Dgram.Actors.Supervision;

namespace Dgram.Actors.Engine;

/// <summary>
/// One socket incarnation as an engine thread reads it: readiness, the reading mode, and the dispatch of each
/// datagram straight to its consumers (not through the mailbox, which is for control and sends). Every method
/// but the <c>Request…</c> ones runs on the thread of the <see cref="IoLoop"/> that owns the reader.
/// </summary>
/// <remarks>
/// <para>Reading modes. With a push consumer (a raw handler, which is how Rx streams attach, or a subscribed actor)
/// the socket is armed and each wake-up reads at most <see cref="EngineSettings.ReadsPerWakeup"/> batches, so one
/// flooded socket cannot starve the others on its thread. Without one, the socket is read only while pulls wait,
/// one datagram per pull, as recvfrom does: the rest waits in the kernel queue, whose overflow the kernel counts.
/// When a push consumer appears, what waited is read and counted as dropped for want of a consumer, so a
/// subscription sees only datagrams that arrive after it.</para>
/// <para>Back-pressure never blocks the thread: a handler asking for a pause, or an actor subscriber under
/// <see cref="MailboxOverflow.Backpressure"/> with a full mailbox (its datagram is held), disarms the socket; the
/// loop checks every millisecond whether it can read again.</para>
/// </remarks>
internal sealed class SocketReader
{
    private readonly DatagramSocket _socket;
    private readonly SocketShared _shared;
    private readonly IActorRef _owner;
    private readonly int _batchSize, _maxDatagramSize;
    private readonly Action _released;
    private readonly SocketAddressCache _sources = new();
    private volatile IoLoop? _loop;
    private int _fd = -1;
    private bool _armed, _hadPush, _stopping, _detached;
    private volatile bool _suspended, _selfPaused;
    private uint _lastKernelDrops;

    // released: called once the engine has let go of the socket and closed it (on the engine thread).
    public SocketReader(DatagramSocket socket, SocketShared shared, IActorRef owner, int batchSize, int maxDatagramSize, bool suspended, Action released)
    {
        _socket = socket;
        _shared = shared;
        _owner = owner;
        _batchSize = batchSize;
        _maxDatagramSize = maxDatagramSize;
        _suspended = suspended;
        _released = released;
    }

    public int BatchSize => _batchSize;

    public int MaxDatagramSize => _maxDatagramSize;

    /// <summary>The epoll token (unique per engine).</summary>
    public ulong Token { get; set; }

    public string Name => _shared.Name;

    /// <summary>The loop that owns this reader; changes only when a blocked consumer makes it move to a thread of its own.</summary>
    public IoLoop? Loop
    {
        get => _loop;
        set => _loop = value;
    }

    /// <summary>True while reading is suspended or back-pressure holds it (readable from any thread).</summary>
    public bool Paused => _suspended || _selfPaused;

    /// <summary>True while back-pressure (not a suspend) holds reading: the loop checks it every millisecond.</summary>
    public bool WaitsForRoom => _selfPaused && !_suspended && !_detached;

    // ---- requests from other threads: queued to the owning loop ----

    /// <summary>Consumers or pulls changed: re-evaluate the reading mode; <paramref name="done"/> runs after (on the engine thread).</summary>
    public void RequestUpdate(Action? done = null) => Post(r =>
    {
        r.UpdateInterest();
        done?.Invoke();
    });

    /// <summary>Stops reading; <paramref name="done"/> runs once nothing more will be delivered.</summary>
    public void RequestSuspend(Action done) => Post(r =>
    {
        r._suspended = true;
        r.UpdateInterest();
        done();
    });

    public void RequestResume(Action done) => Post(r =>
    {
        r._suspended = false;
        r.UpdateInterest();
        done();
    });

    /// <summary>
    /// The incarnation is stopping: deliver what the kernel already queued (bounded), let go of the descriptor,
    /// close the socket (which leaves every group), then report through the released callback.
    /// </summary>
    public void RequestStop() => Post(r => r.Stop(r._loop?.Buffers));

    private void Post(Action<SocketReader> op)
    {
        IoLoop? loop = _loop;
        if (loop is not null) loop.Post(this, op);
        else op(this); // never attached (the engine is gone): nothing reads it
    }

    // ---- on the engine thread ----

    /// <summary>Takes a reference on the descriptor for as long as the engine watches it (a close elsewhere then shows as a hang-up, and the number cannot be reused under epoll).</summary>
    public bool Attach()
    {
        if (!_socket.TryEnter(out _fd))
        {
            Fail(Errno.EBADF, null);
            return false;
        }
        _hadPush = HasPush;
        UpdateInterest();
        return true;
    }

    private bool HasPush => _shared.Handlers.Length > 0 || _shared.Subscribers.Length > 0;

    /// <summary>Brings epoll in line with what the socket should do now.</summary>
    public void UpdateInterest()
    {
        if (_detached) return;
        bool push = HasPush;
        if (push && !_hadPush && !_suspended) DiscardWaiting();
        _hadPush = push;
        SetArmed(!_suspended && !_selfPaused && !_stopping && (push || _shared.Pulls.Count > 0));
        if (WaitsForRoom) _loop!.AddWaiting(this); // also after a resume that finds back-pressure still holding
    }

    private void SetArmed(bool armed)
    {
        if (armed == _armed || _detached) return;
        int errno = armed
            ? Epoll.Control(_loop!.EpollFd, Epoll.EPOLL_CTL_ADD, _fd, Epoll.EPOLLIN | Epoll.EPOLLRDHUP, Token)
            : Epoll.Control(_loop!.EpollFd, Epoll.EPOLL_CTL_DEL, _fd, 0, 0);
        // Already in (or already out of) the set is where we want to be: after a move between loops, say.
        if (errno is Errno.EEXIST or Errno.ENOENT) errno = 0;
        if (errno != 0 && armed) throw new DatagramSocketException("epoll_ctl", DatagramSocketError.Kernel, errno, _shared.Name, "cannot watch the socket");
        _armed = armed;
    }

    private void Disarm()
    {
        if (_armed) Epoll.Control(_loop!.EpollFd, Epoll.EPOLL_CTL_DEL, _fd, 0, 0);
        _armed = false;
    }

    /// <summary>True once the reader has let go of the socket (stopped or failed).</summary>
    public bool Detached => _detached;

    /// <summary>The descriptor while attached (the watchdog takes it out of a blocked loop's epoll set).</summary>
    public int Fd => _fd;

    /// <summary>On its new (dedicated) loop after a blocked consumer: the old epoll set no longer has it, so arm it here.</summary>
    public void Rehome()
    {
        // A request queued here during the block may have armed it in this set already (a second ADD is EEXIST): start clean.
        Epoll.Control(_loop!.EpollFd, Epoll.EPOLL_CTL_DEL, _fd, 0, 0);
        _armed = false;
        UpdateInterest();
    }

    /// <summary>The socket is readable (or hung up): read up to <paramref name="reads"/> batches.</summary>
    public void OnReady(uint events, ReadBuffers buffers, int reads)
    {
        if (!_armed) return; // disarmed after epoll_wait returned it
        DatagramBatch batch = buffers.For(_batchSize, _maxDatagramSize, _socket.ControlSize);
        // EPOLLERR is a pending socket error (an ICMP port unreachable): the read reports it; it is no hang-up.
        bool hungUp = (events & (Epoll.EPOLLHUP | Epoll.EPOLLRDHUP)) != 0;
        for (int k = 0; k < reads; k++)
        {
            int max = _hadPush ? int.MaxValue : _shared.Pulls.Count;
            if (max == 0)
            {
                UpdateInterest(); // the pulls ran out (answered or timed out)
                return;
            }
            BatchReceiveResult r = _socket.ReceiveBatch(batch, 0, null, max);
            switch (r.Status)
            {
                case ReceiveStatus.Received:
                    Dispatch(batch, r.Count);
                    if (_selfPaused || PauseRequested())
                    {
                        _selfPaused = true;
                        UpdateInterest(); // out of epoll, into the loop's every-millisecond check
                        return;
                    }
                    break;
                case ReceiveStatus.TimedOut when r.Count == 0 && hungUp:
                    // After shutdown() a read finds nothing while epoll keeps reporting a hang-up: broken, not idle.
                    Fail(Errno.ESHUTDOWN, null);
                    return;
                case ReceiveStatus.TimedOut:
                    return; // drained (or everything read was filtered): epoll says when there is more
                case ReceiveStatus.Closed:
                    Fail(Errno.EBADF, null);
                    return;
                case ReceiveStatus.Error when Errno.IsBroken(r.Errno, receiving: true):
                    Fail(r.Errno, null);
                    return;
                case ReceiveStatus.Error:
                    Interlocked.Increment(ref _shared._receiveErrors);
                    DgramMetrics.ReceiveErrors.Add(1, _shared.Tag);
                    _shared.Publish(new ReceiveErrorReported(_shared.Name, r.Errno, Errno.Name(r.Errno)));
                    break;
            }
        }
    }

    /// <summary>Called every millisecond while back-pressure holds reading: held datagrams go out as room appears; reading resumes once none is held and no handler wants the pause.</summary>
    public void CheckRoom()
    {
        bool held = false;
        foreach (ActorSubscriber s in _shared.Subscribers) held |= !DeliverHeld(s);
        if (held || PauseRequested()) return;
        _selfPaused = false;
        UpdateInterest();
    }

    /// <summary>The engine thread failed on this reader (a bug, not a socket error): the incarnation fails, the process does not.</summary>
    public void Fail(Exception e) => Fail(Errno.EIO, e);

    private void Fail(int errno, Exception? cause)
    {
        if (_stopping) return; // closed by its own stop: no fault
        Detach();
        _owner.Tell(new ReaderFailed(errno, cause), ActorRefs.NoSender);
    }

    private static readonly TimeSpan StopWait = TimeSpan.FromMilliseconds(10);

    /// <summary>Held by whichever thread works on the reader: its engine thread (reads, requests) or its owner stopping it.</summary>
    public object Gate { get; } = new();

    /// <summary>
    /// Stops the reader on the calling thread (the incarnation's PostStop) when its engine thread is not inside it,
    /// so the socket is closed, and its port free, by the time the actor has stopped. False when the engine thread
    /// stays inside it (a consumer blocking it): then <see cref="RequestStop"/>. Waits at most
    /// <see cref="StopWait"/>, what one read of a batch takes many times over, never for a consumer.
    /// </summary>
    public bool TryStopNow()
    {
        if (!Monitor.TryEnter(Gate, StopWait)) return false;
        try
        {
            Stop(null);
        }
        finally
        {
            Monitor.Exit(Gate);
        }
        return true;
    }

    /// <summary>On the engine thread (its batches in <paramref name="buffers"/>), or on the owner's with none: what <see cref="RequestStop"/> asks for.</summary>
    internal void Stop(ReadBuffers? buffers)
    {
        if (_stopping) return;
        if (!_detached && !_suspended) DrainQueued(buffers);
        _stopping = true;
        foreach (ActorSubscriber s in _shared.Subscribers) _shared.CountSubscriberDrops(s.DropHeld());
        Detach();
        _socket.Dispose(); // leaves every group
        _released();
    }

    /// <summary>Leaves epoll and the loop, and gives back the descriptor reference (the socket may close now).</summary>
    private void Detach()
    {
        if (_detached) return;
        Disarm();
        _detached = true;
        _loop?.Forget(this);
        if (_fd >= 0) _socket.Exit();
        _fd = -1;
    }

    /// <summary>
    /// What the kernel already queued would be discarded, uncounted, by close(): deliver it first (to no
    /// consumer it is counted), without waiting for more and bounded under a flood.
    /// </summary>
    private void DrainQueued(ReadBuffers? buffers)
    {
        // Off the engine thread its batches are not ours: a batch of our own, made only when something waits.
        if (buffers is null && !_socket.HasQueued()) return;
        DatagramBatch? own = buffers is null ? new DatagramBatch(_batchSize, _maxDatagramSize, Math.Max(_socket.ControlSize, 256)) : null;
        try
        {
            ReadQueued(own ?? buffers!.For(_batchSize, _maxDatagramSize, _socket.ControlSize), deliver: true);
        }
        finally
        {
            own?.Dispose();
        }
    }

    /// <summary>Batches read at most when a push consumer appears or the socket stops (64 × 16 by default).</summary>
    private const int DrainBatches = 64;

    /// <summary>A push consumer appeared: what waited in the kernel queue arrived before it, so it is counted, not delivered.</summary>
    private void DiscardWaiting()
    {
        if (_loop is not { } loop) return;
        long discarded = ReadQueued(loop.Buffers.For(_batchSize, _maxDatagramSize, _socket.ControlSize), deliver: false);
        if (discarded == 0) return;
        _shared.NextDatagrams(discarded);
        Interlocked.Add(ref _shared._received, discarded);
        Interlocked.Add(ref _shared._noConsumer, discarded);
        DgramMetrics.DatagramsReceived.Add(discarded, _shared.Tag);
        DgramMetrics.NoConsumerDrops.Add(discarded, _shared.Tag);
    }

    /// <summary>Reads what the kernel already queued, without waiting, at most <see cref="DrainBatches"/> batches: delivered, or only counted.</summary>
    private long ReadQueued(DatagramBatch batch, bool deliver)
    {
        long read = 0;
        for (int k = 0; k < DrainBatches; k++)
        {
            BatchReceiveResult r = _socket.ReceiveBatch(batch, 0, null);
            if (r.Status != ReceiveStatus.Received || r.Count == 0) break;
            read += r.Count;
            if (deliver) Dispatch(batch, r.Count);
            else NoteKernelDrops(batch, r.Count);
        }
        return read;
    }

    private bool PauseRequested()
    {
        foreach (IDatagramHandler h in _shared.Handlers)
        {
            if (h.PauseRequested) return true;
        }
        return false;
    }

    private void NoteKernelDrops(DatagramBatch batch, int count)
    {
        long drops = 0;
        for (int i = 0; i < count; i++)
        {
            if (batch[i].KernelDropCount is uint total && total != _lastKernelDrops)
            {
                drops += total - _lastKernelDrops; // cumulative per socket; counted as deltas
                _lastKernelDrops = total;
            }
        }
        if (drops > 0)
        {
            Interlocked.Add(ref _shared._kernelDrops, drops);
            DgramMetrics.KernelDrops.Add(drops, _shared.Tag);
        }
    }

    private void Dispatch(DatagramBatch batch, int count)
    {
        long bytes = 0, noConsumer = 0, subscriberDrops = 0;
        NoteKernelDrops(batch, count);
        for (int i = 0; i < count; i++)
        {
            ref readonly ReceiveResult result = ref batch[i];
            long sequence = _shared.NextDatagram();
            bytes += result.BytesReceived;

            IDatagramHandler[] handlers = _shared.Handlers;
            ActorSubscriber[] subscribers = _shared.Subscribers;
            bool consumed = false;
            foreach (IDatagramHandler h in handlers)
            {
                try
                {
                    consumed |= h.OnDatagram(batch.Payload(i), batch.SourceAddress(i), in result, sequence);
                }
                catch (Exception)
                {
                    // A handler that throws must not stop reading: counted, and the datagram still goes to the others.
                    Interlocked.Increment(ref _shared._handlerFaults);
                }
            }
            PendingPull? pull = _shared.Pulls.TakeOldest();
            if (subscribers.Length == 0 && pull is null)
            {
                if (!consumed) noConsumer++;
                continue;
            }

            var message = new SocketProtocol.Received(batch.Payload(i).ToArray(), _sources.Get(batch.SourceAddress(i)),
                new DatagramInfo(result.DatagramLength, result.Truncated, result.InterfaceIndex, result.GetDestinationAddress(),
                    result.HopLimit, result.TimestampNanoseconds, sequence));
            pull?.ReplyTo.Tell(message, ActorRefs.NoSender);
            foreach (ActorSubscriber s in subscribers) subscriberDrops += Deliver(s, message);
        }
        _shared.CountSubscriberDrops(subscriberDrops);

        foreach (IDatagramHandler h in _shared.Handlers)
        {
            try
            {
                h.OnBatchEnd();
            }
            catch (Exception)
            {
                Interlocked.Increment(ref _shared._handlerFaults);
            }
        }
        Interlocked.Add(ref _shared._received, count);
        Interlocked.Add(ref _shared._bytesReceived, bytes);
        DgramMetrics.DatagramsReceived.Add(count, _shared.Tag);
        DgramMetrics.BytesReceived.Add(bytes, _shared.Tag);
        if (noConsumer > 0)
        {
            Interlocked.Add(ref _shared._noConsumer, noConsumer);
            DgramMetrics.NoConsumerDrops.Add(noConsumer, _shared.Tag);
        }
    }

    /// <summary>
    /// Tells one subscriber within its mailbox bound; returns 1 when the datagram was dropped for it. Under
    /// Backpressure a full mailbox holds the datagram (and any after it) and pauses reading: the bound is never exceeded.
    /// </summary>
    private int Deliver(ActorSubscriber s, SocketProtocol.Received message)
    {
        if (s.HasHeld)
        {
            s.Hold(message);
            _selfPaused = true;
            return 0;
        }
        switch (s.TryOffer(message))
        {
            case Offer.Told:
                return 0;
            case Offer.Full:
                s.Hold(message);
                _selfPaused = true;
                return 0;
            case Offer.Overflowed:
                if (_shared.RemoveSubscriber(s))
                {
                    s.Actor.Tell(new SocketProtocol.SubscriptionOverflowed(_shared.Name, s.Limit.Capacity), ActorRefs.NoSender);
                }
                return 1;
            default:
                return 1;
        }
    }

    /// <summary>Tells what a subscriber has held while its mailbox has room; true when nothing is held any more.</summary>
    private bool DeliverHeld(ActorSubscriber s)
    {
        if (!s.HasHeld) return true;
        if (s.Ended)
        {
            _shared.CountSubscriberDrops(s.DropHeld());
            return true;
        }
        return s.OfferHeld();
    }
}

/// <summary>The engine found the socket broken (errno), or failed on it (cause): the incarnation fails and is replaced.</summary>
internal sealed record ReaderFailed(int Errno, Exception? Cause);
