using Akka.Actor;
using Dgram.Actors.Diagnostics;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;
using Dgram.Actors.Supervision;

namespace Dgram.Actors.Actors;

/// <summary>
/// The socket's only reader: a dedicated thread (<c>dgram-pump-NAME</c>) that takes batches with
/// recvmmsg and hands each datagram straight to its consumers, not through the mailbox (the mailbox is
/// for control and sends). Who gets a datagram: every raw handler and every subscribed actor whose
/// mailbox has room under its <see cref="MailboxLimit"/>, and also the oldest pending pull, if any. With no consumer at all it keeps reading and counts the
/// datagram as dropped for want of a consumer, so nothing stale is delivered later as new.
/// </summary>
/// <remarks>
/// The loop itself allocates nothing per datagram: raw handlers get spans. Each datagram that goes to
/// actors (subscribers or a pull) costs one payload copy and one message, shared by all of them.
/// </remarks>
internal sealed class ReceivePump
{
    private readonly DatagramSocket _socket;
    private readonly SocketShared _shared;
    private readonly IActorRef _owner;
    private readonly int _batchSize, _maxDatagramSize;
    private readonly Thread _thread;
    private readonly Waker _waker = new();
    private readonly ManualResetEventSlim _resume = new(true), _parked = new(false);
    private volatile bool _stop, _suspend, _selfPaused;
    private uint _lastKernelDrops;
    private readonly SocketAddressCache _sources = new();

    public ReceivePump(DatagramSocket socket, SocketShared shared, IActorRef owner, int batchSize, int maxDatagramSize, bool suspended)
    {
        _socket = socket;
        _shared = shared;
        _owner = owner;
        _batchSize = batchSize;
        _maxDatagramSize = maxDatagramSize;
        _suspend = suspended;
        if (suspended) _resume.Reset();
        _thread = new Thread(Run) { IsBackground = true, Name = "dgram-pump-" + shared.Name };
    }

    public void Start() => _thread.Start();

    /// <summary>True while a handler's back-pressure keeps the loop from reading.</summary>
    public bool SelfPaused => _selfPaused;

    /// <summary>Parks the loop; returns once it is parked (nothing is delivered after).</summary>
    public bool Suspend(TimeSpan wait)
    {
        _resume.Reset();
        _suspend = true;
        _waker.Wake();
        return _parked.Wait(wait);
    }

    public void Resume()
    {
        _suspend = false;
        _resume.Set();
    }

    /// <summary>Marks the loop as stopping, so a close that follows is not reported as a fault.</summary>
    public void RequestStop() => _stop = true;

    /// <summary>
    /// Stops the loop and waits for the thread: it delivers what the socket still has queued, then ends.
    /// The owner closes the socket after (or, if the loop is stuck in a consumer, after the wait).
    /// </summary>
    public bool Stop(TimeSpan wait)
    {
        _stop = true;
        _resume.Set();
        _waker.Wake();
        bool joined = !_thread.IsAlive || Thread.CurrentThread == _thread || _thread.Join(wait);
        // A loop still running keeps its waker (its descriptor must not be reused under it).
        if (joined) _waker.Dispose();
        return joined;
    }

    private void Run()
    {
        using var batch = new DatagramBatch(_batchSize, _maxDatagramSize, _socket.ControlSize);
        while (!_stop)
        {
            if (_suspend)
            {
                _parked.Set();
                _resume.Wait();
                _parked.Reset();
                continue;
            }
            BatchReceiveResult r = _socket.ReceiveBatch(batch, -1, _waker);
            switch (r.Status)
            {
                case ReceiveStatus.Received:
                    Dispatch(batch, r.Count);
                    if (PauseRequested()) WaitWhilePaused();
                    break;
                case ReceiveStatus.TimedOut: // woken: check the flags
                    break;
                case ReceiveStatus.Closed:
                    // Closed by the owner when stopping; closed by anything else, it is a fault.
                    if (!_stop) _owner.Tell(new PumpFailed(Errno.EBADF), ActorRefs.NoSender);
                    return;
                case ReceiveStatus.Error when IsFatal(r.Errno):
                    // The socket is broken (shut down under us): the incarnation fails and is replaced.
                    if (!_stop) _owner.Tell(new PumpFailed(r.Errno), ActorRefs.NoSender);
                    return;
                case ReceiveStatus.Error:
                    Interlocked.Increment(ref _shared._receiveErrors);
                    DgramMetrics.ReceiveErrors.Add(1, _shared.Tag);
                    _shared.Publish(new ReceiveErrorReported(_shared.Name, r.Errno, Errno.Name(r.Errno)));
                    break;
            }
        }
        DrainQueued(batch);
    }

    /// <summary>
    /// The incarnation is stopping (a restart, a kill, the socket closed): what the kernel already queued
    /// for this socket would be discarded, uncounted, by close(). Deliver it first, without waiting for
    /// more (bounded at 100 ms under a flood). Not while reading is suspended: nothing is delivered then.
    /// </summary>
    private void DrainQueued(DatagramBatch batch)
    {
        if (_suspend) return;
        long until = Environment.TickCount64 + 100;
        while (Environment.TickCount64 < until)
        {
            BatchReceiveResult r = _socket.ReceiveBatch(batch, 0, null);
            if (r.Status != ReceiveStatus.Received) return;
            Dispatch(batch, r.Count);
        }
    }

    private bool PauseRequested()
    {
        foreach (IDatagramHandler h in _shared.Handlers)
        {
            if (h.PauseRequested) return true;
        }
        return false;
    }

    /// <summary>Back-pressure from a handler: stop reading until none wants the pause (checked every millisecond).</summary>
    private void WaitWhilePaused() => WaitWhile(static pump => pump.PauseRequested(), this);

    /// <summary>
    /// Parks the loop while <paramref name="wait"/> holds, until a stop or a suspend (checked every millisecond:
    /// neither a handler's buffer nor an actor's mailbox signals when it drains). Reported as self-paused meanwhile.
    /// </summary>
    private void WaitWhile<T>(Func<T, bool> wait, T state)
    {
        _selfPaused = true;
        while (!_stop && !_suspend && wait(state)) _parked.Wait(1); // _parked stays unset here: a plain 1 ms wait
        _selfPaused = false;
    }

    /// <summary>ESHUTDOWN, EBADF, ENOTSOCK: the descriptor cannot read again. Others (ECONNREFUSED, …) are per datagram.</summary>
    private static bool IsFatal(int errno) => errno is Errno.ESHUTDOWN or Errno.EBADF or Errno.ENOTSOCK or Errno.EINVAL or Errno.EFAULT;

    private void Dispatch(DatagramBatch batch, int count)
    {
        long bytes = 0, noConsumer = 0, kernelDrops = 0, subscriberDrops = 0;
        for (int i = 0; i < count; i++)
        {
            ref readonly ReceiveResult result = ref batch[i];
            long sequence = _shared.NextDatagram();
            bytes += result.BytesReceived;
            if (result.KernelDropCount is uint drops && drops != _lastKernelDrops)
            {
                kernelDrops += drops - _lastKernelDrops; // cumulative per socket; counted as deltas
                _lastKernelDrops = drops;
            }

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
                    // A handler that throws must not kill the read loop (an unhandled exception on this
                    // thread would end the process): counted, and the datagram still goes to the others.
                    Interlocked.Increment(ref _shared._handlerFaults);
                }
            }
            PendingPull? pull = NextPull();
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

        Interlocked.Add(ref _shared._received, count);
        Interlocked.Add(ref _shared._bytesReceived, bytes);
        DgramMetrics.DatagramsReceived.Add(count, _shared.Tag);
        DgramMetrics.BytesReceived.Add(bytes, _shared.Tag);
        if (noConsumer > 0)
        {
            Interlocked.Add(ref _shared._noConsumer, noConsumer);
            DgramMetrics.NoConsumerDrops.Add(noConsumer, _shared.Tag);
        }
        if (kernelDrops > 0)
        {
            Interlocked.Add(ref _shared._kernelDrops, kernelDrops);
            DgramMetrics.KernelDrops.Add(kernelDrops, _shared.Tag);
        }
    }

    /// <summary>The oldest pull still waiting, claimed for this datagram.</summary>
    private PendingPull? NextPull() => _shared.Pulls.TakeOldest();

    /// <summary>
    /// Tells one subscriber within its mailbox bound; returns 1 when the datagram was dropped for it. Under
    /// Backpressure the loop waits here (checking every millisecond) until the mailbox is half empty; a suspend
    /// ends the wait and the datagram is told anyway (the overshoot is at most the rest of this batch); a stop
    /// or the end of the subscription ends it with the datagram counted as dropped.
    /// </summary>
    private int Deliver(ActorSubscriber s, SocketProtocol.Received message)
    {
        switch (s.TryOffer(message))
        {
            case Offer.Told:
                return 0;
            case Offer.Full:
                WaitWhile(static subscriber => !subscriber.Ended && !subscriber.HalfEmpty, s);
                // Unsubscribed while the loop waited, or stopping (the drain at stop must not overrun the
                // bound with the whole kernel queue): not delivered, counted.
                if (s.Ended || (_stop && !s.HalfEmpty)) return s.CountDropped();
                s.Tell(message);
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
}

/// <summary>The read loop found the socket broken.</summary>
internal sealed record PumpFailed(int Errno);
