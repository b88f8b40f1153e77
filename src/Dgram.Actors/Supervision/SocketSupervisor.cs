using Akka.Actor;
using Akka.Event;
using Dgram.Actors.Actors;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Supervision;

/// <summary>
/// The socket actor users talk to: a stable reference that outlives socket incarnations. It owns what
/// must survive a fault (the ledger of wanted options and memberships, subscribers, pending pulls,
/// counters) and creates one <see cref="SocketIncarnation"/> child at a time. Any failure of the child
/// (an exception, a kill, a failed start such as a bind error) stops it; the supervisor then creates a
/// new one after an exponential backoff, which binds the same address and replays the ledger. Commands
/// that arrive meanwhile wait, in order. After <see cref="SocketSettings.MaxRetries"/> consecutive failed
/// incarnations it gives up: subscribers get <see cref="SocketFailed"/> and the failure escalates.
/// </summary>
/// <remarks>
/// Akka's default decider stops a child on ActorKilledException and ActorInitializationException, and
/// a restarted child would be a new instance anyway, so the decision here is explicit: stop the child,
/// build a fresh incarnation. No state lives in the child.
/// </remarks>
internal sealed class SocketSupervisor : UntypedActor, IWithTimers
{
    private readonly SocketSettings _settings;
    private readonly SocketShared _shared;
    private readonly SocketLedger _ledger;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private LinkedList<(object Message, IActorRef Sender)> _buffer = new();
    // Commands handed to the current incarnation and not yet acknowledged: if it dies, the next one gets them.
    private readonly LinkedList<(long Id, object Message, IActorRef Sender)> _inFlight = new();
    private long _nextId;
    private readonly List<IActorRef> _startWaiters = [];
    private IActorRef? _child;
    private bool _ready;
    private int _incarnation, _consecutiveFailures;
    private Exception? _lastCause;
    private bool _started;
    // The highest incarnation whose socket the engine has closed: the next one binds only after that.
    private int _released;
    private bool _startWhenReleased;
    // StopSocket arrived: no restart from now on; the actor stops once the last incarnation's socket is closed.
    private bool _stopping;

    /// <summary>Creates the supervisor for one socket.</summary>
    public SocketSupervisor(SocketSettings settings) : this(settings, null)
    {
    }

    /// <summary>
    /// Creates the supervisor for one socket; <paramref name="started"/> (if given) completes when the
    /// first incarnation is bound and configured, or fails with why the socket could not start.
    /// (Public because Akka's props activator uses public constructors.)
    /// </summary>
    public SocketSupervisor(SocketSettings settings, TaskCompletionSource? started)
    {
        _settings = settings;
        _shared = new SocketShared(settings.Name);
        _ledger = SocketLedger.From(settings);
        _startedPromise = started;
    }

    // Completed when the first incarnation started or the socket gave up: no message can miss it
    // (an AwaitStarted that arrives after a failed start would find the actor gone).
    private readonly TaskCompletionSource? _startedPromise;

    /// <summary>Props for a socket actor.</summary>
    public static Props Props(SocketSettings settings) => Akka.Actor.Props.Create(() => new SocketSupervisor(settings));

    /// <summary>Props whose <paramref name="started"/> completes when the socket first starts, or fails with why it could not.</summary>
    public static Props Props(SocketSettings settings, TaskCompletionSource started) =>
        Akka.Actor.Props.Create(() => new SocketSupervisor(settings, started));

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    internal SocketShared Shared => _shared;

    /// <inheritdoc />
    /// <remarks>Akka's own failure log is off: the supervisor reports each failure once, as the restart warning or the give-up.</remarks>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        _lastCause = e is ActorInitializationException { InnerException: { } inner } ? inner : e;
        return Directive.Stop;
    }, loggingEnabled: false);

    /// <inheritdoc />
    protected override void PreStart() => StartIncarnation();

    /// <inheritdoc />
    protected override void PostStop()
    {
        _shared.Publish(new SocketStopped(_settings.Name));
        _startedPromise?.TrySetException(Closed("Start", "stopped before it started"));
        foreach (IActorRef waiter in _startWaiters) waiter.Tell(new Status.Failure(Closed("Start", "stopped")));
        FailWaitingCommands("the socket actor stopped");
    }

    /// <summary>
    /// A supervisor that gave up escalated; if its parent restarts it, it must not come back as a fresh
    /// socket that silently forgot its subscribers, ledger and counters: it stops instead.
    /// </summary>
    protected override void PostRestart(Exception reason)
    {
        if (reason is SocketUnrecoverableException)
        {
            Context.Stop(Self);
            return;
        }
        base.PostRestart(reason);
    }

    /// <summary>
    /// Answers, with Closed/EBADF, every command that will never be applied (buffered, or handed to an
    /// incarnation that did not answer it) and every pending pull. A command the incarnation answered is
    /// never answered again.
    /// </summary>
    private void FailWaitingCommands(string why)
    {
        TrimAnswered();
        foreach (var (message, sender) in _inFlight.Select(f => (f.Message, f.Sender)).Concat(_buffer))
        {
            if (message is Command c) sender.Tell(new CommandFailed(c, Closed(c.GetType().Name, why)));
        }
        _buffer.Clear();
        _inFlight.Clear();
        while (_shared.Pulls.TakeOldest() is { } pull)
        {
            pull.ReplyTo.Tell(new CommandFailed(pull.Command, Closed(nameof(SocketProtocol.Receive), why)));
        }
    }

    private DatagramSocketException Closed(string operation, string why) => DatagramSocketException.Closed(operation, _settings.Name, why);

    /// <summary>Forgets in-flight commands the incarnation has answered (it records the last one in the shared state before its Done message).</summary>
    private void TrimAnswered()
    {
        long done = _shared.LastDone;
        while (_inFlight.First is { } first && first.Value.Id <= done) _inFlight.RemoveFirst();
    }

    /// <summary>
    /// Refuses a send or a pull when <see cref="SocketSettings.MaxQueuedCommands"/> commands already wait
    /// (buffered, handed to the incarnation and not answered, or pulls waiting for a datagram): answered at
    /// once, counted. Option changes, memberships, state and suspend/resume are always admitted, so callers that
    /// flood sends or abandon pulls cannot lock out control; they are few by nature.
    /// </summary>
    private bool Refused(Command command)
    {
        if (command is not (Send or SendWithOptions or SendMany or SocketProtocol.Receive)) return false;
        int waiting = _buffer.Count + _inFlight.Count + _shared.Pulls.Count;
        if (waiting < _settings.MaxQueuedCommands) return false;
        TrimAnswered();
        waiting = _buffer.Count + _inFlight.Count + _shared.Pulls.Count;
        if (waiting < _settings.MaxQueuedCommands) return false;
        _shared.CountRefused();
        Sender.Tell(new CommandFailed(command, new DatagramSocketException(command.GetType().Name, DatagramSocketError.Overloaded, Errno.ENOBUFS, _settings.Name,
            $"{waiting} commands already wait (MaxQueuedCommands = {_settings.MaxQueuedCommands})")));
        return true;
    }

    private void StartIncarnation()
    {
        _incarnation++;
        _ready = false;
        _child = Context.ActorOf(Akka.Actor.Props.Create(() => new SocketIncarnation(_settings, _shared, _ledger, _incarnation, !_started)), "socket-" + _incarnation);
        Context.Watch(_child);
    }

    /// <inheritdoc />
    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case StopSocket:
                BeginStop();
                break;
            case Command c when _stopping:
                Sender.Tell(new CommandFailed(c, Closed(c.GetType().Name, "the socket is stopping")));
                break;
            case Subscribe s:
                try
                {
                    s.Limit.Validate(nameof(Subscribe));
                }
                catch (DatagramSocketException e)
                {
                    Sender.Tell(new CommandFailed(s, e));
                    break;
                }
                if (!_shared.AddSubscriber(s.Subscriber, s.Limit, ((ExtendedActorSystem)Context.System).Provider))
                {
                    Sender.Tell(new CommandFailed(s, new DatagramSocketException(nameof(Subscribe), DatagramSocketError.InvalidArgument, 0, s.Subscriber.Path.ToString(),
                        "a subscriber must be a local actor: its mailbox depth is what bounds delivery")));
                    break;
                }
                Context.Watch(s.Subscriber);
                IActorRef subscriber = Sender;
                _shared.ConsumersChanged(() => subscriber.Tell(Subscribed.Instance));
                break;
            case Unsubscribe u:
                if (_shared.RemoveSubscriber(u.Subscriber)) Context.Unwatch(u.Subscriber);
                _shared.ConsumersChanged(null);
                Sender.Tell(Unsubscribed.Instance);
                break;
            case AddHandler h:
                _shared.AddHandler(h.Handler);
                IActorRef adder = Sender;
                _shared.ConsumersChanged(() => adder.Tell(Subscribed.Instance));
                break;
            case RemoveHandler h:
                _shared.RemoveHandler(h.Handler);
                _shared.ConsumersChanged(null);
                Sender.Tell(Unsubscribed.Instance);
                break;
            case AwaitStarted:
                if (_started) Sender.Tell(AwaitStarted.Instance);
                else _startWaiters.Add(Sender);
                break;
            case Command c when Refused(c):
                break;
            case Command or TestHook:
                if (_ready) Dispatch(message, Sender);
                else _buffer.AddLast((message, Sender));
                break;
            case Done done:
                while (_inFlight.First is { } first && first.Value.Id <= done.Id) _inFlight.RemoveFirst();
                break;
            case IncarnationStarted started when Sender.Equals(_child):
                OnIncarnationStarted(started.Number);
                break;
            case PullExpired expired:
                _shared.Pulls.Remove(expired.Pull);
                if (expired.Pull.TryClaim()) expired.Pull.ReplyTo.Tell(ReceiveTimedOut.Instance);
                break;
            case StartNext when _stopping:
                break;
            case StartNext when _released < _incarnation:
                _startWhenReleased = true; // the engine still holds the last incarnation's socket
                break;
            case StartNext:
                StartIncarnation();
                break;
            case IncarnationReleased released:
                _released = Math.Max(_released, released.Number);
                if (_stopping) StopWhenReleased();
                else if (_startWhenReleased && _released >= _incarnation)
                {
                    _startWhenReleased = false;
                    StartIncarnation();
                }
                break;
            case Stable:
                _consecutiveFailures = 0;
                break;
            case Terminated t when t.ActorRef.Equals(_child):
                OnIncarnationStopped();
                break;
            case Terminated t:
                if (_shared.RemoveSubscriber(t.ActorRef)) _shared.ConsumersChanged(null);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    /// <summary>Hands a command to the incarnation; the reply goes straight to the original sender.</summary>
    private void Dispatch(object message, IActorRef sender)
    {
        long id = ++_nextId;
        _inFlight.AddLast((id, message, sender));
        _child!.Tell(new Dispatched(id, message), sender);
    }

    private void OnIncarnationStarted(int number)
    {
        _ready = true;
        // Failures count as consecutive until an incarnation has stayed up a while: a fault that recurs
        // right after each start must still run out of retries and escalate.
        Timers.StartSingleTimer(Stable.Instance, Stable.Instance, StablePeriod);
        if (number > 1)
        {
            _log.Info("Socket {0}: incarnation {1} bound and restored", _settings.Name, number);
            _shared.Publish(new SocketRestored(_settings.Name, number));
        }
        if (!_started)
        {
            _started = true;
            _startedPromise?.TrySetResult();
            foreach (IActorRef waiter in _startWaiters) waiter.Tell(AwaitStarted.Instance);
            _startWaiters.Clear();
        }
        while (_buffer.First is { } next)
        {
            _buffer.RemoveFirst();
            Dispatch(next.Value.Message, next.Value.Sender);
        }
    }

    private void OnIncarnationStopped()
    {
        _ready = false;
        _child = null;
        Timers.Cancel(Stable.Instance);
        if (_stopping)
        {
            StopWhenReleased();
            return;
        }
        // Commands the dead incarnation never answered (queued behind a Kill, say) go first, in order. The
        // bound held for buffer and in-flight together, so it holds for the requeued lot too.
        TrimAnswered();
        var requeue = new LinkedList<(object Message, IActorRef Sender)>(_inFlight.Select(f => (f.Message, f.Sender)));
        foreach (var b in _buffer) requeue.AddLast(b);
        _buffer = requeue;
        _inFlight.Clear();
        Exception cause = _lastCause ?? Closed("Socket", "the socket actor stopped");
        _lastCause = null;
        _consecutiveFailures++;
        if (!_started && !RetryAtStart(cause))
        {
            GiveUpAtStart(cause);
            return;
        }
        if (_consecutiveFailures > _settings.MaxRetries)
        {
            _log.Error(cause, "Socket {0}: giving up after {1} failed incarnation(s)", _settings.Name, _consecutiveFailures);
            _shared.Publish(new SocketFailed(_settings.Name, cause));
            _startedPromise?.TrySetException(cause);
            foreach (IActorRef waiter in _startWaiters) waiter.Tell(new Status.Failure(cause));
            _startWaiters.Clear();
            FailWaitingCommands("the socket could not be recovered: " + cause.Message);
            throw new SocketUnrecoverableException(_settings.Name, cause);
        }
        TimeSpan backoff = Backoff(_consecutiveFailures);
        _log.Warning("Socket {0}: incarnation {1} failed ({2}); restarting in {3} ms", _settings.Name, _incarnation, cause.Message, (int)backoff.TotalMilliseconds);
        _shared.CountRestart();
        _shared.Publish(new SocketRestarting(_settings.Name, cause, _consecutiveFailures, backoff));
        Timers.StartSingleTimer(StartNext.Instance, StartNext.Instance, backoff);
    }

    /// <summary>
    /// Stops the socket for good. A running incarnation gets the stop behind the commands already handed to it, so
    /// they are applied first; one still starting is stopped at once. Nothing restarts from here on, and what is
    /// still waiting is answered Closed when the actor stops (<see cref="PostStop"/>).
    /// </summary>
    private void BeginStop()
    {
        if (_stopping) return;
        _stopping = true;
        _startWhenReleased = false;
        Timers.Cancel(StartNext.Instance);
        if (_child is null) StopWhenReleased();
        else if (_ready) _child.Tell(StopSocket.Instance);
        else Context.Stop(_child);
    }

    /// <summary>
    /// The actor stops only once the engine has closed the last incarnation's socket: when the stop is seen
    /// (<see cref="Client.SocketClient.StopAsync"/>), the groups have left the kernel and the port is free.
    /// </summary>
    private void StopWhenReleased()
    {
        if (_child is null && _released >= _incarnation) Context.Stop(Self);
    }

    /// <summary>
    /// A first start is retried only for a bind error that can clear by itself, and only when
    /// <see cref="SocketSettings.BindFailure"/> says so: anything else (an unsupported family, a membership the
    /// kernel refuses, a port in use) would fail the same way on every attempt.
    /// </summary>
    private bool RetryAtStart(Exception cause) =>
        _settings.BindFailure == BindFailurePolicy.Retry && _consecutiveFailures <= _settings.MaxRetries
        && cause is DatagramSocketException { Setting: "LocalEndPoint", Errno: Errno.EADDRNOTAVAIL or Errno.EADDRINUSE };

    /// <summary>
    /// The socket never started: whoever waits for the start gets the cause (naming the setting) and the actor
    /// stops. It is not escalated when someone waits: the caller has the error, so it is no crash to log.
    /// </summary>
    private void GiveUpAtStart(Exception cause)
    {
        _shared.Publish(new SocketFailed(_settings.Name, cause));
        foreach (IActorRef waiter in _startWaiters) waiter.Tell(new Status.Failure(cause));
        _startWaiters.Clear();
        FailWaitingCommands("the socket could not start: " + cause.Message);
        if (_startedPromise is not null)
        {
            _log.Warning("Socket {0}: could not start: {1}", _settings.Name, cause.Message);
            _startedPromise.TrySetException(cause);
            Context.Stop(Self);
            return;
        }
        _log.Error("Socket {0}: could not start: {1}", _settings.Name, cause.Message);
        throw new SocketUnrecoverableException(_settings.Name, cause);
    }

    private TimeSpan Backoff(int failures)
    {
        double ms = _settings.MinBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(failures - 1, 20));
        return TimeSpan.FromMilliseconds(Math.Min(ms, _settings.MaxBackoff.TotalMilliseconds));
    }

    private TimeSpan StablePeriod => _settings.MaxBackoff < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : _settings.MaxBackoff;

    private sealed class StartNext
    {
        public static readonly StartNext Instance = new();
    }

    private sealed class Stable
    {
        public static readonly Stable Instance = new();
    }
}

/// <summary>A socket that could not be recovered; escalated to the supervisor's parent.</summary>
public sealed class SocketUnrecoverableException(string socket, Exception cause)
    : Exception($"socket {socket} could not be recovered: {cause.Message}", cause)
{
    /// <summary>The socket's name.</summary>
    public string Socket { get; } = socket;
}

/// <summary>
/// Closes the socket for good (<see cref="Client.SocketClient.StopAsync"/>): the supervisor, then the running incarnation
/// behind the commands handed to it. Told, never answered: the stop is seen by watching. A late one is no news.
/// </summary>
internal sealed class StopSocket : IDeadLetterSuppression
{
    public static readonly StopSocket Instance = new();
    private StopSocket() { }
}

/// <summary>Answered (with itself) once the first incarnation is bound and configured, or with a failure.</summary>
internal sealed class AwaitStarted
{
    public static readonly AwaitStarted Instance = new();
}

internal sealed record AddHandler(IDatagramHandler Handler);

/// <summary>A command on its way to the incarnation, numbered so the supervisor knows what was handled.</summary>
internal sealed record Dispatched(long Id, object Message);

/// <summary>The incarnation handled command <paramref name="Id"/> (and all before it).</summary>
internal sealed record Done(long Id);

internal sealed record RemoveHandler(IDatagramHandler Handler);
