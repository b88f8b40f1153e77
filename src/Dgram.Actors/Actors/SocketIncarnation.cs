using System.Net;
using Akka.Actor;
using Akka.Event;
using Dgram.Actors.Engine;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;
using Dgram.Actors.Supervision;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Actors;

/// <summary>
/// One incarnation of a socket: owns the <see cref="DatagramSocket"/>, hands it to the engine to read, applies
/// commands in mailbox order, and replays the ledger when it starts. Any failure stops it; the parent
/// (<see cref="SocketSupervisor"/>) creates the next incarnation with backoff once the engine has let go of this
/// one's socket and closed it (never two incarnations reading at once). Nothing here blocks the actor's thread.
/// Memberships live in <see cref="MembershipKeeper"/>, sends in <see cref="SendPath"/>.
/// </summary>
internal sealed class SocketIncarnation : UntypedActor
{
    private readonly SocketSettings _settings;
    private readonly SocketShared _shared;
    private readonly SocketLedger _ledger;
    private readonly int _number;
    private readonly bool _firstStart;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private IoEngine? _engine; // set in PreStart, inside its try: a failure there still releases the incarnation
    private DatagramSocket? _socket;
    private SocketReader? _reader;
    private MembershipKeeper? _memberships;
    private SendPath? _sends;

    // firstStart: true until an incarnation of this socket has started once (AbsentInterface = Fail applies then).
    public SocketIncarnation(SocketSettings settings, SocketShared shared, SocketLedger ledger, int number, bool firstStart)
    {
        _settings = settings;
        _shared = shared;
        _ledger = ledger;
        _number = number;
        _firstStart = firstStart;
    }

    private DatagramSocket Socket => _socket!;

    private MembershipKeeper Memberships => _memberships!;

    private SendPath Sends => _sends!;

    /// <summary>The setting PreStart is applying, named in a first start's error.</summary>
    private string _step = "";

    protected override void PreStart()
    {
        var options = _settings.SocketOptions;
        // The engine counts kernel drops through SO_RXQ_OVFL.
        var socketOptions = new DatagramSocketOptions
        {
            DualMode = options.DualMode, KernelMulticastAll = options.KernelMulticastAll, FilterByJoinedInterface = options.FilterByJoinedInterface,
            ControlBufferSize = options.ControlBufferSize, Logger = options.Logger,
            ReceiveMetadata = options.ReceiveMetadata | ReceiveMetadata.QueueOverflow,
        };
        IActorRef parent = Context.Parent;
        int number = _number;
        try
        {
            LinuxOnly.Require("Start"); // before the engine: elsewhere epoll is a missing entry point, not an explanation
            IoEngine engine = _engine = IoEngine.Get(Context.System); // its own errors name their dgram.engine key
            _step = "Family";
            _socket = DatagramSocket.Create(_settings.Family, socketOptions);
            _memberships = new MembershipKeeper(_socket, _settings, _shared, _ledger, engine.Links, _log, _firstStart);
            _sends = new SendPath(_socket, _settings, _shared, Self, Acknowledge);
            _step = "LocalEndPoint";
            if (_settings.LocalEndPoint is not null) Bind(_settings.LocalEndPoint);
            _step = "RemoteEndPoint";
            if (_settings.RemoteEndPoint is not null) _socket.Connect(_settings.RemoteEndPoint);
            ReplayOptions();
            engine.WatchLinks(Self); // before the joins: a change while they run is not missed
            _memberships.Replay(_number, step => _step = step);
            _step = nameof(SocketSettings.DedicatedReadThread);
            var reader = new SocketReader(_socket, _shared, Self, _settings.BatchSize, _settings.MaxDatagramSize, _ledger.Suspended,
                () => parent.Tell(new IncarnationReleased(number)));
            engine.Register(reader, _settings.DedicatedReadThread);
            _reader = reader;
            _shared.Reader = reader;
        }
        catch (Exception e)
        {
            // Akka does not call PostStop when PreStart throws: close the socket here, or it stays bound.
            _engine?.UnwatchLinks(Self);
            _socket?.Dispose();
            parent.Tell(new IncarnationReleased(_number));
            // The first start names the setting it could not apply (hosting maps it to the configuration key).
            if (_firstStart && _step.Length > 0 && e is DatagramSocketException { Setting: null } error) throw error.ForSetting(_step);
            throw;
        }
        parent.Tell(new IncarnationStarted(_number));
    }

    protected override void PostStop()
    {
        _engine?.UnwatchLinks(Self);
        if (_reader is null) return;
        if (_shared.Reader == _reader) _shared.Reader = null;
        // What the kernel already queued is delivered (close would discard it uncounted), the engine lets go of
        // the descriptor, the socket is closed (which leaves every group) and the parent told. Here and now when
        // the engine thread is not inside the reader (the port is free once this actor has stopped); otherwise
        // on that thread when it gets out: this actor never waits for it.
        if (!_reader.TryStopNow()) _reader.RequestStop();
    }

    /// <summary>
    /// Binds the configured address; a port the kernel picked (port 0) for the first incarnation is kept
    /// for the next ones, so a restart does not change the socket's address. Should that port be taken
    /// meanwhile, the configured address is bound again (a new port, with a warning).
    /// </summary>
    private void Bind(EndPoint configured)
    {
        EndPoint? pinned = _ledger.BoundEndPoint;
        try
        {
            _socket!.Bind(pinned ?? configured, _settings.Reuse);
        }
        catch (DatagramSocketException e) when (pinned is not null && e.Errno == Errno.EADDRINUSE)
        {
            _log.Warning("Socket {0}: {1}, bound by the previous incarnation, is taken; binding {2} (a new port)", _shared.Name, pinned, configured);
            _socket!.Bind(configured, _settings.Reuse);
            pinned = null;
        }
        if (pinned is null && configured is IPEndPoint { Port: 0 } wanted && _socket.LocalEndPoint is IPEndPoint bound)
        {
            _ledger.BoundEndPoint = new IPEndPoint(wanted.Address, bound.Port);
        }
    }

    /// <summary>Re-applies every recorded option to the new socket, in order (memberships follow).</summary>
    private void ReplayOptions()
    {
        _step = nameof(SocketSettings.MulticastLoop);
        if (_ledger.Loop is bool loop) Socket.SetMulticastLoop(loop);
        _step = nameof(SocketSettings.MulticastTtl);
        if (_ledger.Ttl is int ttl) Socket.SetMulticastTtl(ttl);
        _step = nameof(SocketSettings.UnicastTtl);
        if (_ledger.UnicastTtl is int unicastTtl) Socket.SetUnicastTtl(unicastTtl);
        _step = "Broadcast";
        if (_ledger.Broadcast is bool broadcast) Socket.SetBroadcast(broadcast);
        _step = nameof(SocketSettings.ReceiveBufferSize);
        if (_ledger.ReceiveBufferSize is int rcv) Socket.SetReceiveBufferSize(rcv);
    }

    protected override void OnReceive(object message)
    {
        if (message is Dispatched { Message: Send send } queued && Sends.Coalesces)
        {
            Sends.Enqueue(send, queued.Id, Sender);
            return;
        }
        if (message is FlushOutboxMarker)
        {
            Sends.OnFlushMarker();
            return;
        }
        Sends.Flush(); // whatever comes next finds the sends before it done, in mailbox order
        if (message is Dispatched dispatched)
        {
            try
            {
                Handle(dispatched.Message);
            }
            finally
            {
                // Acknowledged even when the command fails this incarnation: it is not retried.
                Acknowledge(dispatched.Id);
            }
            return;
        }
        Handle(message);
    }

    /// <summary>Commands up to <paramref name="id"/> are answered: recorded where the parent reads it even after this incarnation is gone, then told.</summary>
    private void Acknowledge(long id)
    {
        _shared.LastDone = id;
        Context.Parent.Tell(new Done(id));
    }

    private void Handle(object message)
    {
        switch (message)
        {
            case Send send:
                Sends.Send(send.Payload, send.Destination, Sender);
                break;
            case SendWithOptions send:
                Sends.SendWithOptions(send, Sender);
                break;
            case SendMany many:
                Sends.SendMany(many, Sender);
                break;
            case OptionCommand command:
                DoOption(command);
                break;
            case SocketProtocol.Receive pull:
                Pull(pull);
                break;
            case SuspendReading:
                _ledger.Suspended = true; // wanted either way: a new incarnation starts suspended
                IActorRef suspender = Sender;
                _reader!.RequestSuspend(() => suspender.Tell(ReadingSuspended.Instance));
                break;
            case ResumeReading:
                _ledger.Suspended = false;
                IActorRef resumer = Sender;
                _reader!.RequestResume(() => resumer.Tell(ReadingResumed.Instance));
                break;
            case GetState:
                Sender.Tell(State());
                break;
            case StopSocket:
                Context.Stop(Self); // the sends before it went out above; PostStop closes the socket
                break;
            case LinksChanged links:
                Memberships.Reconcile(links.Changes);
                break;
            case ReaderFailed { Cause: { } cause }:
                throw new DatagramSocketException("Receive", DatagramSocketError.Kernel, Errno.EIO, null, "the engine failed reading the socket: " + cause.Message);
            case ReaderFailed failed:
                throw new DatagramSocketException("Receive", DatagramSocketError.Kernel, failed.Errno, null, "the engine found the socket broken");
            case TestHook hook:
                hook.Action(Socket);
                Sender.Tell(hook);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    /// <summary>A recvfrom: waits for the next datagram (the engine reads one per waiting pull) or its timeout.</summary>
    private void Pull(SocketProtocol.Receive pull)
    {
        if (pull.Timeout < TimeSpan.Zero && pull.Timeout != Timeout.InfiniteTimeSpan)
        {
            // The scheduler would throw and fail the incarnation; refuse the input instead.
            Sender.Tell(new CommandFailed(pull, new DatagramSocketException("ReceiveFrom", DatagramSocketError.OutOfRange, 0, pull.Timeout.ToString(),
                "a timeout is >= 0 or Timeout.InfiniteTimeSpan")));
            return;
        }
        var pending = new PendingPull(pull, Sender);
        _shared.Pulls.Add(pending);
        if (pull.Timeout != Timeout.InfiniteTimeSpan)
        {
            pending.Timer = Context.System.Scheduler.ScheduleTellOnceCancelable(pull.Timeout, Context.Parent, new PullExpired(pending), ActorRefs.NoSender);
        }
        _reader!.RequestUpdate();
    }

    private void DoOption(OptionCommand command)
    {
        long seq = _shared.NextSequence();
        try
        {
            object reply = command switch
            {
                GetMulticastLoop => new OptionValue<bool>(Socket.GetMulticastLoop(), seq),
                SetMulticastLoop c => new OptionValue<bool>(Socket.SetMulticastLoop(c.Enable), seq),
                GetMulticastTtl => new OptionValue<int>(Socket.GetMulticastTtl(), seq),
                SetMulticastTtl c => new OptionValue<int>(Socket.SetMulticastTtl(c.Ttl), seq),
                GetUnicastTtl => new OptionValue<int>(Socket.GetUnicastTtl(), seq),
                SetUnicastTtl c => new OptionValue<int>(Socket.SetUnicastTtl(c.Ttl), seq),
                GetMulticastInterface => new OptionValue<string?>(Socket.GetMulticastInterface(), seq),
                SetMulticastInterface c => new OptionValue<string?>(Memberships.SetMulticastInterface(c.InterfaceName), seq),
                GetBroadcast => new OptionValue<bool>(Socket.GetBroadcast(), seq),
                SetBroadcast c => new OptionValue<bool>(Socket.SetBroadcast(c.Enable), seq),
                ChangeMembership c => new Applied(seq, Memberships.Change(c)),
                _ => throw new InvalidOperationException("unknown option command " + command),
            };
            _ledger.RecordOption(command);
            Sender.Tell(reply);
        }
        catch (DatagramSocketException e)
        {
            Sender.Tell(new CommandFailed(command, e));
        }
    }

    private SocketState State()
    {
        long seq = _shared.NextSequence();
        bool ip = _settings.Family != System.Net.Sockets.AddressFamily.Unix;
        return new SocketState(
            _shared.Name,
            Socket.LocalEndPoint,
            ip ? Socket.GetMulticastLoop() : null,
            ip ? Socket.GetMulticastTtl() : null,
            ip ? Socket.GetUnicastTtl() : null,
            ip ? Socket.GetMulticastInterface() : null,
            _settings.Family == System.Net.Sockets.AddressFamily.InterNetwork ? Socket.GetBroadcast() : null,
            _ledger.Memberships().Select(e => new MembershipState(e.ToMembership(), e.Status)).ToArray(),
            _ledger.Suspended || _reader?.Paused == true,
            _shared.Counters(),
            KernelSocketTable.Drops(Socket),
            seq,
            _shared.Subscribers.Select(s => s.State()).ToArray());
    }
}

/// <summary>The engine's link table changed (in this order): memberships are reconciled against it. One left for a stopped incarnation is no news.</summary>
internal sealed record LinksChanged(IReadOnlyList<LinkChange> Changes) : IDeadLetterSuppression;

/// <summary>The engine let go of incarnation <paramref name="Number"/>'s socket and closed it: the next one may bind.</summary>
internal sealed record IncarnationReleased(int Number) : IDeadLetterSuppression;

internal sealed record IncarnationStarted(int Number);

internal sealed record PullExpired(PendingPull Pull);

/// <summary>Runs an action on the current incarnation's socket (tests inject faults with it). Answered with itself.</summary>
internal sealed record TestHook(Action<DatagramSocket> Action);
