using System.Reactive.Disposables;
using System.Reactive.Subjects;
using Akka.Actor;
using Dgram.Actors.Actors;
using Dgram.Actors.Diagnostics;
using Dgram.Actors.Protocol;

namespace Dgram.Rx;

/// <summary>Bridges between Rx and actors.</summary>
public static class ActorBridges
{
    /// <summary>
    /// Sends every element of <paramref name="source"/> to the local actor <paramref name="target"/>, bounded
    /// by its mailbox (<paramref name="limit"/>, default 1,024 messages, drop newest): an element that finds
    /// the mailbox full is dropped and counted in <paramref name="statistics"/> and <c>dgram.rx.drops.subscriber</c>
    /// (tag <c>pipe</c> = the target's path), ends the pipe (<see cref="MailboxOverflow.Fail"/>: the target gets
    /// <paramref name="onError"/>'s message for a <see cref="SubscriberOverflowException"/>), or waits in
    /// <c>OnNext</c> until the mailbox is half empty (<see cref="MailboxOverflow.Backpressure"/>, so a buffered
    /// stream upstream applies its own overflow policy). On completion sends <paramref name="onCompleted"/>'s
    /// message (if given), on error <paramref name="onError"/>'s (default: <see cref="Status.Failure"/>).
    /// Dispose to stop.
    /// </summary>
    /// <exception cref="ArgumentException">The target is not a local actor (its mailbox cannot be seen).</exception>
    public static IDisposable PipeTo<T>(this IObservable<T> source, IActorRef target, Func<object>? onCompleted = null, Func<Exception, object>? onError = null,
        MailboxLimit? limit = null, SubscriberStatistics? statistics = null)
    {
        limit ??= MailboxLimit.Default;
        limit.Validate(nameof(PipeTo));
        if (!MailboxGauge.TryCreate(target, null, out MailboxGauge gauge))
        {
            throw new ArgumentException($"PipeTo needs a local actor (its mailbox depth bounds the pipe): {target.Path}", nameof(target));
        }
        var pipe = new BoundedPipe<T>(target, new MailboxAllowance(gauge, limit.Capacity), limit.Overflow, onCompleted, onError, statistics);
        pipe.Subscription.Disposable = source.Subscribe(pipe);
        return pipe;
    }

    /// <summary>
    /// PipeTo's observer. Rx serialises OnNext per observer, so the allowance needs no lock; disposal may
    /// come from any thread and also ends a wait for room.
    /// </summary>
    private sealed class BoundedPipe<T>(IActorRef target, MailboxAllowance room, MailboxOverflow overflow, Func<object>? onCompleted,
        Func<Exception, object>? onError, SubscriberStatistics? statistics) : IObserver<T>, IDisposable
    {
        private readonly KeyValuePair<string, object?> _tag = new("pipe", target.Path.ToStringWithoutAddress());
        private MailboxAllowance _room = room;
        private volatile bool _done;

        public SingleAssignmentDisposable Subscription { get; } = new();

        public void OnNext(T value)
        {
            if (_done) return;
            if (!_room.TryTake())
            {
                switch (overflow)
                {
                    case MailboxOverflow.DropNewest:
                        Dropped();
                        return;
                    case MailboxOverflow.Fail:
                        Dropped();
                        OnError(new SubscriberOverflowException(target.Path.Name, _room.Capacity));
                        Subscription.Dispose();
                        return;
                    default:
                        using (var wait = new ManualResetEventSlim())
                        {
                            while (!_done && !_room.HalfEmpty) wait.Wait(1); // a plain 1 ms wait; the mailbox has no drain event
                        }
                        if (_done)
                        {
                            Dropped(); // disposed while waiting: given up, counted
                            return;
                        }
                        break;
                }
            }
            target.Tell(value!, ActorRefs.NoSender);
            if (statistics is not null) Interlocked.Increment(ref statistics._delivered);
        }

        public void OnError(Exception error)
        {
            if (_done) return;
            _done = true;
            target.Tell(onError is null ? new Status.Failure(error) : onError(error), ActorRefs.NoSender);
        }

        public void OnCompleted()
        {
            if (_done) return;
            _done = true;
            if (onCompleted is not null) target.Tell(onCompleted(), ActorRefs.NoSender);
        }

        public void Dispose()
        {
            _done = true;
            Subscription.Dispose();
        }

        private void Dropped()
        {
            if (statistics is not null) Interlocked.Increment(ref statistics._dropped);
            DgramRxMetrics.SubscriberDrops.Add(1, _tag);
        }
    }

    /// <summary>
    /// An actor whose received messages of type <typeparamref name="T"/> come out as a hot stream
    /// (serialised by the actor's mailbox). <see cref="Status.Failure"/> ends it with an error;
    /// stopping the actor completes it. Other messages are unhandled.
    /// </summary>
    public static (IActorRef Actor, IObservable<T> Stream) ActorSource<T>(this IActorRefFactory factory, string? name = null)
    {
        var subject = new Subject<T>();
        IActorRef actor = factory.ActorOf(Props.Create(() => new SourceActor<T>(subject)), name);
        return (actor, subject);
    }

    private sealed class SourceActor<T>(Subject<T> subject) : UntypedActor
    {
        private bool _done;

        protected override void OnReceive(object message)
        {
            switch (message)
            {
                case T item when !_done:
                    subject.OnNext(item);
                    break;
                case Status.Failure failure when !_done:
                    _done = true;
                    subject.OnError(failure.Cause);
                    break;
                default:
                    Unhandled(message);
                    break;
            }
        }

        protected override void PostStop()
        {
            if (!_done) subject.OnCompleted();
            _done = true;
        }
    }
}
