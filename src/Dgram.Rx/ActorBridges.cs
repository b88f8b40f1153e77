using System.Reactive.Subjects;
using Akka.Actor;

namespace Dgram.Rx;

/// <summary>Bridges between Rx and actors.</summary>
public static class ActorBridges
{
    /// <summary>
    /// Sends every element of <paramref name="source"/> to <paramref name="target"/>; on completion
    /// sends <paramref name="onCompleted"/>'s message (if given), on error <paramref name="onError"/>'s
    /// (default: <see cref="Status.Failure"/>). Dispose to stop.
    /// </summary>
    public static IDisposable PipeTo<T>(this IObservable<T> source, IActorRef target, Func<object>? onCompleted = null, Func<Exception, object>? onError = null) =>
        source.Subscribe(
            item => target.Tell(item!, ActorRefs.NoSender),
            error => target.Tell(onError is null ? new Status.Failure(error) : onError(error), ActorRefs.NoSender),
            () =>
            {
                if (onCompleted is not null) target.Tell(onCompleted(), ActorRefs.NoSender);
            });

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
