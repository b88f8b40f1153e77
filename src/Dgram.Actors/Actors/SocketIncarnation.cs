using System.Net;
using Akka.Actor;
using Akka.Event;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;
using Dgram.Actors.Supervision;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Actors;

/// <summary>
/// One incarnation of a socket: owns the <see cref="DatagramSocket"/> and its read loop, applies
/// commands in mailbox order, and replays the ledger when it starts. Any failure stops it; the
/// parent (<see cref="SocketSupervisor"/>) creates the next incarnation with backoff. Stopping it
/// closes the socket, which takes its memberships out of the kernel.
/// </summary>
internal sealed class SocketIncarnation : UntypedActor
{
    private readonly SocketSettings _settings;
    private readonly SocketShared _shared;
    private readonly SocketLedger _ledger;
    private readonly int _number;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private DatagramSocket? _socket;
    private ReceivePump? _pump;
    private ICancelable? _reconcileTimer;
    private readonly Outbox _outbox;
    private bool _flushQueued;

    public SocketIncarnation(SocketSettings settings, SocketShared shared, SocketLedger ledger, int number, bool firstStart)
    {
        _settings = settings;
        _shared = shared;
        _ledger = ledger;
        _number = number;
        _firstStart = firstStart;
        _outbox = new Outbox(settings.SendBatchSize);
    }

    /// <summary>True until an incarnation of this socket has started once: AbsentInterface = Fail applies then.</summary>
    private readonly bool _firstStart;

    private DatagramSocket Socket => _socket!;

    /// <summary>The setting PreStart is applying, named in a first start's error.</summary>
    private string _step = "";

    protected override void PreStart()
    {
        var options = _settings.SocketOptions;
        // The read loop counts kernel drops through SO_RXQ_OVFL.
        var socketOptions = new DatagramSocketOptions
        {
            DualMode = options.DualMode, KernelMulticastAll = options.KernelMulticastAll, FilterByJoinedInterface = options.FilterByJoinedInterface,
            ControlBufferSize = options.ControlBufferSize, Logger = options.Logger,
            ReceiveMetadata = options.ReceiveMetadata | ReceiveMetadata.QueueOverflow,
        };
        _step = "Family";
        try
        {
            _socket = DatagramSocket.Create(_settings.Family, socketOptions);
            _step = "LocalEndPoint";
            if (_settings.LocalEndPoint is not null) Bind(_settings.LocalEndPoint);
            _step = "RemoteEndPoint";
            if (_settings.RemoteEndPoint is not null) _socket.Connect(_settings.RemoteEndPoint);
            Replay();
        }
        catch (Exception e)
        {
            // Akka does not call PostStop when PreStart throws: close the socket here, or it stays bound.
            _socket?.Dispose();
            // The first start names the setting it could not apply (hosting maps it to the configuration key).
            if (_firstStart && e is DatagramSocketException { Setting: null } error) throw error.ForSetting(_step);
            throw;
        }
        _pump = new ReceivePump(_socket, _shared, Self, _settings.BatchSize, _settings.MaxDatagramSize, _ledger.Suspended);
        _pump.Start();
        _reconcileTimer = Context.System.Scheduler.ScheduleTellRepeatedlyCancelable(
            _settings.InterfaceCheckInterval, _settings.InterfaceCheckInterval, Self, Reconcile.Instance, Self);
        Context.Parent.Tell(new IncarnationStarted(_number));
    }

    protected override void PostStop()
    {
        _reconcileTimer?.Cancel();
        _pump?.RequestStop(); // first, so the loop does not take the close below for a fault
        // The loop ends after delivering what the kernel had already queued for this socket (close would
        // discard it uncounted); only then is the socket closed, which leaves every group.
        if (_pump is not null && !_pump.Stop(TimeSpan.FromSeconds(5)))
        {
            _log.Error("Socket {0}: the read loop of incarnation {1} did not end within 5 s (a handler or inline subscriber is blocking it); it ends once that call returns",
                _shared.Name, _number);
        }
        _socket?.Dispose(); // leaves every group (close); wakes a read loop still stuck in a consumer's call
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

    /// <summary>Re-applies every recorded option and membership to the new socket, in order.</summary>
    private void Replay()
    {
        _step = nameof(SocketSettings.MulticastLoop);
        if (_ledger.Loop is bool loop) Socket.SetMulticastLoop(loop);
        _step = nameof(SocketSettings.MulticastTtl);
        if (_ledger.Ttl is int ttl) Socket.SetMulticastTtl(ttl);
        _step = "Broadcast";
        if (_ledger.Broadcast is bool broadcast) Socket.SetBroadcast(broadcast);
        _step = nameof(SocketSettings.ReceiveBufferSize);
        if (_ledger.ReceiveBufferSize is int rcv) Socket.SetReceiveBufferSize(rcv);
        _step = nameof(SocketSettings.MulticastInterface);
        if (_ledger.MulticastInterfaceSet) ApplyMulticastInterface();
        foreach (SocketLedger.Entry entry in _ledger.Memberships())
        {
            _step = GroupSetting(entry);
            entry.ActiveIndex = 0;
            entry.Status = MembershipStatus.Pending;
            TryJoin(entry, countRestored: _number > 1);
        }
    }

    /// <summary>The setting a membership came from (<c>Groups[3]</c>), or the group itself for one added by a command.</summary>
    private string GroupSetting(SocketLedger.Entry entry)
    {
        for (int i = 0; i < _settings.Groups.Count; i++)
        {
            if (_settings.Groups[i].Group.Equals(entry.Group) && _settings.Groups[i].InterfaceName == entry.InterfaceName) return $"{nameof(SocketSettings.Groups)}[{i}]";
        }
        return $"{nameof(SocketSettings.Groups)}({entry.Group})";
    }

    private void ApplyMulticastInterface()
    {
        string? name = _ledger.MulticastInterface;
        if (name is not null && NetworkInterfaceNames.TryGetIndex(name, out _) == Errno.ENODEV)
        {
            _log.Warning("Socket {0}: multicast interface {1} is absent; using the default until it appears", _shared.Name, name);
            return;
        }
        Socket.SetMulticastInterface(name);
    }

    /// <summary>Joins a recorded membership with its sources; leaves it pending when its interface is absent.</summary>
    private bool TryJoin(SocketLedger.Entry entry, bool countRestored)
    {
        int index = 0;
        if (entry.InterfaceName is not null)
        {
            int errno = NetworkInterfaceNames.TryGetIndex(entry.InterfaceName, out index);
            if (errno == 0 && Socket.InterfaceIsUp(entry.InterfaceName) == false)
            {
                // Joined when it comes up (a join made while down loses IPv6 source filters).
                _shared.Publish(new MembershipPending(_shared.Name, entry.ToMembership(), "interface down"));
                return false;
            }
            if (errno == Errno.ENODEV)
            {
                if (_settings.AbsentInterface == AbsentInterfacePolicy.Fail && _firstStart)
                {
                    throw new DatagramSocketException("JoinGroup", DatagramSocketError.UnknownInterface, Errno.ENODEV,
                        $"{entry.Group}, {entry.InterfaceName}", "the interface is absent and AbsentInterface is Fail");
                }
                _log.Warning("Socket {0}: interface {1} is absent; membership {2} is pending", _shared.Name, entry.InterfaceName, entry.Group);
                _shared.Publish(new MembershipPending(_shared.Name, entry.ToMembership(), "interface absent"));
                return false;
            }
        }
        if (entry.Mode == FilterMode.Include)
        {
            foreach (IPAddress source in entry.Sources) Socket.JoinSourceGroup(entry.Group, source, entry.InterfaceName);
        }
        else
        {
            Socket.JoinGroup(entry.Group, entry.InterfaceName);
            foreach (IPAddress source in entry.Sources) Socket.BlockSource(entry.Group, source, entry.InterfaceName);
        }
        entry.ActiveIndex = index;
        entry.Status = MembershipStatus.Active;
        if (countRestored)
        {
            _shared.CountRestored();
            _shared.Publish(new MembershipRestored(_shared.Name, entry.ToMembership()));
        }
        return true;
    }

    /// <summary>
    /// Brings memberships in line with the interfaces that exist and are up. A deleted interface leaves a
    /// stale entry in the socket (under the old index) that still counts against igmp_max_memberships,
    /// so it is dropped by that index; when the interface (re)appears and is up the membership is joined
    /// again. An interface seen down is rejoined when it is up again. Source filters are not checked in
    /// /proc/net/mcfilter(6): those listings leave out whole interfaces (see
    /// <see cref="Diagnostics.KernelMulticastTables.ListingAnchorGroup"/>), and a filter missing there is
    /// not a filter lost.
    /// </summary>
    private void ReconcileInterfaces()
    {
        SocketLedger.Entry[] entries = _ledger.Memberships();
        foreach (SocketLedger.Entry entry in entries)
        {
            if (entry.InterfaceName is null) continue;
            NetworkInterfaceNames.TryGetIndex(entry.InterfaceName, out int index);
            bool up = index != 0 && Socket.InterfaceIsUp(entry.InterfaceName) == true;
            string? reason = null;
            if (entry.Status == MembershipStatus.Active)
            {
                if (index == 0) reason = "interface removed";
                else if (entry.ActiveIndex != index) reason = "interface re-created";
                else if (!up) reason = "interface down";
            }
            if (reason is not null)
            {
                DropStale(entry);
                entry.Status = MembershipStatus.Pending;
                entry.ActiveIndex = 0;
                _shared.Publish(new MembershipPending(_shared.Name, entry.ToMembership(), reason));
            }
            if (entry.Status == MembershipStatus.Pending && up)
            {
                try
                {
                    TryJoin(entry, countRestored: true);
                }
                catch (DatagramSocketException e)
                {
                    _log.Warning("Socket {0}: rejoining {1} on {2} failed: {3}", _shared.Name, entry.Group, entry.InterfaceName, e.Message);
                }
            }
        }
        if (_ledger.MulticastInterfaceSet && _ledger.MulticastInterface is string name && !Socket.IsClosed)
        {
            NetworkInterfaceNames.TryGetIndex(name, out int index);
            if (index != 0 && index != _multicastInterfaceIndex)
            {
                Socket.SetMulticastInterface(name);
                _multicastInterfaceIndex = index;
            }
        }
    }

    private int _multicastInterfaceIndex;

    /// <summary>Leaves a membership by the index it was joined under (the interface may be gone).</summary>
    private void DropStale(SocketLedger.Entry entry)
    {
        int errno = Socket.TryLeaveByIndex(entry.Group, entry.ActiveIndex);
        if (errno != 0 && errno != Errno.EADDRNOTAVAIL && errno != Errno.ENODEV)
        {
            _log.Warning("Socket {0}: dropping stale membership {1} (index {2}) failed: {3}", _shared.Name, entry.Group, entry.ActiveIndex, Errno.Name(errno));
        }
    }

    protected override void OnReceive(object message)
    {
        if (message is Dispatched { Message: Send send } queued && _outbox.Capacity > 1)
        {
            Enqueue(send, queued.Id);
            return;
        }
        if (message is FlushOutboxMarker)
        {
            _flushQueued = false;
            FlushOutbox();
            return;
        }
        FlushOutbox(); // whatever comes next finds the sends before it done, in mailbox order
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
                DoSend(send.Payload, send.Destination);
                break;
            case SendWithOptions send:
                DoSendWithOptions(send);
                break;
            case SendMany many:
                DoSendMany(many);
                break;
            case OptionCommand command:
                DoOption(command);
                break;
            case SocketProtocol.Receive pull:
                if (pull.Timeout < TimeSpan.Zero && pull.Timeout != Timeout.InfiniteTimeSpan)
                {
                    // The scheduler would throw and fail the incarnation; refuse the input instead.
                    Sender.Tell(new CommandFailed(pull, new DatagramSocketException("ReceiveFrom", DatagramSocketError.OutOfRange, 0, pull.Timeout.ToString(),
                        "a timeout is >= 0 or Timeout.InfiniteTimeSpan")));
                    break;
                }
                var pending = new PendingPull(pull, Sender);
                _shared.Pulls.Add(pending);
                if (pull.Timeout != Timeout.InfiniteTimeSpan)
                {
                    pending.Timer = Context.System.Scheduler.ScheduleTellOnceCancelable(pull.Timeout, Context.Parent, new PullExpired(pending), ActorRefs.NoSender);
                }
                break;
            case SuspendReading suspend:
                _ledger.Suspended = true; // wanted either way: a new incarnation starts suspended
                if (_pump!.Suspend(TimeSpan.FromSeconds(5)))
                {
                    Sender.Tell(ReadingSuspended.Instance);
                }
                else
                {
                    // The loop is stuck in a consumer's callback: say so rather than claim it parked.
                    Sender.Tell(new CommandFailed(suspend, new DatagramSocketException("SuspendReading", DatagramSocketError.Kernel, Errno.ETIMEDOUT,
                        _shared.Name, "the read loop did not park within 5 s: a handler or inline subscriber is blocking it")));
                }
                break;
            case ResumeReading:
                _pump!.Resume();
                _ledger.Suspended = false;
                Sender.Tell(ReadingResumed.Instance);
                break;
            case GetState:
                Sender.Tell(State());
                break;
            case Reconcile:
                ReconcileInterfaces();
                break;
            case PumpFailed failed:
                throw new DatagramSocketException("Receive", DatagramSocketError.Kernel, failed.Errno, null, "the read loop found the socket broken");
            case TestHook hook:
                hook.Action(Socket);
                Sender.Tell(hook);
                break;
            default:
                Unhandled(message);
                break;
        }
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
                GetMulticastInterface => new OptionValue<string?>(Socket.GetMulticastInterface(), seq),
                SetMulticastInterface c => new OptionValue<string?>(SetInterface(c.InterfaceName), seq),
                GetBroadcast => new OptionValue<bool>(Socket.GetBroadcast(), seq),
                SetBroadcast c => new OptionValue<bool>(Socket.SetBroadcast(c.Enable), seq),
                ChangeMembership c => new Applied(seq, DoMembership(c)),
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

    private string? SetInterface(string? name)
    {
        string? previous = Socket.SetMulticastInterface(name);
        _multicastInterfaceIndex = name is null ? 0 : NetworkInterfaceNames.GetIndex(name);
        return previous;
    }

    private MembershipStatus DoMembership(ChangeMembership c)
    {
        SocketLedger.Entry? existing = _ledger.Find(c.Group, c.InterfaceName);
        bool interfaceAbsent = c.InterfaceName is not null && NetworkInterfaceNames.TryGetIndex(c.InterfaceName, out _) == Errno.ENODEV;
        if (existing is { Status: MembershipStatus.Pending } || (interfaceAbsent && c.Change is MembershipChange.Join or MembershipChange.JoinSource))
        {
            // What the kernel would say, for a membership that only the ledger holds for now.
            string args = c.ToString();
            if (c.Change == MembershipChange.Join && existing is not null)
            {
                throw new DatagramSocketException("JoinGroup", DatagramSocketError.Kernel, Errno.EADDRINUSE, args, "already a member (pending its interface)");
            }
            // A pending membership with no source yet is what the kernel will get as a fresh join: like a
            // fresh one it takes a source change of the other mode (the ledger switches it); one with sources does not.
            if (existing is not null && existing.Sources.Count > 0 && ((c.Change == MembershipChange.JoinSource && existing.Mode == FilterMode.Exclude)
                || (c.Change == MembershipChange.BlockSource && existing.Mode == FilterMode.Include)))
            {
                throw new DatagramSocketException(OperationName(c.Change), DatagramSocketError.Kernel, Errno.EINVAL, args, "the pending membership has the other filter mode");
            }
            if (_settings.AbsentInterface == AbsentInterfacePolicy.Fail && existing is null)
            {
                NetworkInterfaceNames.GetIndex(c.InterfaceName!, OperationName(c.Change)); // throws UnknownInterface
            }
            // Waiting for the interface: record only; the join happens when it appears.
            var entry = _ledger.Record(c, 0, MembershipStatus.Pending);
            if (entry is not null && c.Change is MembershipChange.Join or MembershipChange.JoinSource)
            {
                _shared.Publish(new MembershipPending(_shared.Name, entry.ToMembership(), "interface absent"));
            }
            return MembershipStatus.Pending;
        }
        switch (c.Change)
        {
            case MembershipChange.Join: Socket.JoinGroup(c.Group, c.InterfaceName); break;
            case MembershipChange.Leave: Socket.LeaveGroup(c.Group, c.InterfaceName); break;
            case MembershipChange.JoinSource: Socket.JoinSourceGroup(c.Group, c.Source!, c.InterfaceName); break;
            case MembershipChange.LeaveSource: Socket.LeaveSourceGroup(c.Group, c.Source!, c.InterfaceName); break;
            case MembershipChange.BlockSource: Socket.BlockSource(c.Group, c.Source!, c.InterfaceName); break;
            case MembershipChange.UnblockSource: Socket.UnblockSource(c.Group, c.Source!, c.InterfaceName); break;
        }
        int index = c.InterfaceName is null ? 0 : NetworkInterfaceNames.GetIndex(c.InterfaceName);
        _ledger.Record(c, index, MembershipStatus.Active);
        return MembershipStatus.Active;
    }

    /// <summary>The socket core's name for a membership change, so an error names the call the same way from either layer.</summary>
    private static string OperationName(MembershipChange change) => change switch
    {
        MembershipChange.Join => nameof(DatagramSocket.JoinGroup),
        MembershipChange.Leave => nameof(DatagramSocket.LeaveGroup),
        MembershipChange.JoinSource => nameof(DatagramSocket.JoinSourceGroup),
        MembershipChange.LeaveSource => nameof(DatagramSocket.LeaveSourceGroup),
        MembershipChange.BlockSource => nameof(DatagramSocket.BlockSource),
        _ => nameof(DatagramSocket.UnblockSource),
    };

    private void DoSend(ReadOnlyMemory<byte> payload, EndPoint destination)
    {
        long seq = _shared.NextSequence();
        SendResult result;
        try
        {
            result = Socket.SendTo(payload.Span, destination, _settings.SendTimeout);
        }
        catch (DatagramSocketException e)
        {
            Sender.Tell(new CommandFailed(new Send(payload, destination), e));
            return;
        }
        _shared.CountSend(result);
        Sender.Tell(new Sent(result, seq));
        if (result.Status == SendStatus.Error && Outbox.IsBroken(result.Errno))
        {
            // The socket is broken: fail this incarnation so the parent builds a new one.
            throw new DatagramSocketException("SendTo", DatagramSocketError.Kernel, result.Errno, destination.ToString(), "the socket is broken");
        }
    }

    /// <summary>
    /// Queues a send instead of sending it at once: sends already waiting in the mailbox join it, and the
    /// lot goes out through sendmmsg when a flush marker (queued behind them) or any other message arrives.
    /// A lone send costs one extra message to self, processed in the same mailbox run.
    /// </summary>
    private void Enqueue(Send send, long id)
    {
        EndPoint? to = null;
        DatagramSocketException? invalid = null;
        try
        {
            to = Socket.ValidateEndPoint("SendTo", send.Destination);
        }
        catch (DatagramSocketException e)
        {
            invalid = e;
        }
        _outbox.Items.Add(new OutgoingDatagram { Payload = send.Payload, Destination = to, Invalid = invalid, Command = send, ReplyTo = Sender, Id = id });
        if (_outbox.Items.Count >= _outbox.Capacity)
        {
            FlushOutbox();
        }
        else if (!_flushQueued)
        {
            _flushQueued = true;
            Self.Tell(FlushOutboxMarker.Instance);
        }
    }

    /// <summary>Sends what the outbox holds, answers each command in order and acknowledges them to the parent.</summary>
    private void FlushOutbox()
    {
        List<OutgoingDatagram> items = _outbox.Items;
        if (items.Count == 0) return;
        int tried = _outbox.Transmit(Socket, _settings.SendTimeout, stopAtFailure: false);
        long sent = 0, bytes = 0;
        for (int k = 0; k < tried; k++)
        {
            OutgoingDatagram d = items[k];
            if (d.Invalid is not null)
            {
                d.ReplyTo!.Tell(new CommandFailed(d.Command!, d.Invalid));
                continue;
            }
            if (d.Result.Status == SendStatus.Sent)
            {
                sent++;
                bytes += d.Result.BytesSent;
            }
            else
            {
                _shared.CountSend(d.Result);
            }
            d.ReplyTo!.Tell(new Sent(d.Result, _shared.NextSequence()));
        }
        _shared.CountSent(sent, bytes);
        // Only answered sends are acknowledged: the rest (after a broken socket) go to the next incarnation.
        Acknowledge(items[tried - 1].Id);
        OutgoingDatagram last = items[tried - 1];
        items.Clear();
        if (last.Tried && last.Result.Status != SendStatus.Sent && Outbox.IsBroken(last.Result.Errno))
        {
            throw new DatagramSocketException("SendTo", DatagramSocketError.Kernel, last.Result.Errno, last.Destination?.ToString(), "the socket is broken");
        }
    }

    /// <summary>Several datagrams in one mailbox step, through sendmmsg; the first refused stops the rest.</summary>
    private void DoSendMany(SendMany many)
    {
        long seq = _shared.NextSequence();
        List<OutgoingDatagram> items = _outbox.Items; // empty: every message flushes it first
        try
        {
            foreach (var (payload, destination) in many.Datagrams)
            {
                items.Add(new OutgoingDatagram { Payload = payload, Destination = Socket.ValidateEndPoint("SendMany", destination) });
            }
        }
        catch (DatagramSocketException e)
        {
            // A bad destination anywhere refuses the whole command before anything is sent.
            items.Clear();
            Sender.Tell(new CommandFailed(many, e));
            return;
        }
        int tried = _outbox.Transmit(Socket, _settings.SendTimeout, stopAtFailure: true);
        int total = 0;
        long bytes = 0;
        SendResult stop = default;
        for (int k = 0; k < tried; k++)
        {
            if (items[k].Result.Status != SendStatus.Sent)
            {
                stop = items[k].Result;
                break;
            }
            total++;
            bytes += items[k].Result.BytesSent;
        }
        items.Clear();
        _shared.CountSent(total, bytes);
        if (stop.Status != SendStatus.Sent) _shared.CountSend(stop);
        Sender.Tell(new SentMany(new BatchSendResult(stop.Status, total, stop.Errno), seq));
        if (stop.Status == SendStatus.Error && Outbox.IsBroken(stop.Errno))
        {
            throw new DatagramSocketException("SendMany", DatagramSocketError.Kernel, stop.Errno, null, "the socket is broken");
        }
    }

    /// <summary>TTL and interface for one datagram: set, send, restore, all in one mailbox step.</summary>
    private void DoSendWithOptions(SendWithOptions send)
    {
        int? previousTtl = null;
        string? previousInterface = null;
        bool interfaceChanged = false;
        try
        {
            if (send.Ttl is int ttl) previousTtl = Socket.SetMulticastTtl(ttl);
            if (send.InterfaceName is not null)
            {
                previousInterface = Socket.SetMulticastInterface(send.InterfaceName);
                interfaceChanged = true;
            }
        }
        catch (DatagramSocketException e)
        {
            Restore();
            Sender.Tell(new CommandFailed(send, e));
            return;
        }
        try
        {
            DoSend(send.Payload, send.Destination);
        }
        finally
        {
            Restore();
        }

        void Restore()
        {
            if (previousTtl is int t) Socket.SetMulticastTtl(t);
            if (interfaceChanged) Socket.SetMulticastInterface(previousInterface);
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
            ip ? Socket.GetMulticastInterface() : null,
            _settings.Family == System.Net.Sockets.AddressFamily.InterNetwork ? Socket.GetBroadcast() : null,
            _ledger.Memberships().Select(e => new MembershipState(e.ToMembership(), e.Status)).ToArray(),
            _ledger.Suspended || _pump?.SelfPaused == true,
            _shared.Counters(),
            KernelSocketTable.Drops(Socket),
            seq,
            _shared.Subscribers.Select(s => s.State()).ToArray());
    }
}

/// <summary>Sent to self behind queued sends: when it arrives, the outbox goes out. One left behind a fault is no news.</summary>
internal sealed class FlushOutboxMarker : IDeadLetterSuppression
{
    public static readonly FlushOutboxMarker Instance = new();
    private FlushOutboxMarker() { }
}

internal sealed class Reconcile : IDeadLetterSuppression
{
    public static readonly Reconcile Instance = new();
    private Reconcile() { }
}

internal sealed record IncarnationStarted(int Number);

internal sealed record PullExpired(PendingPull Pull);

/// <summary>Runs an action on the current incarnation's socket (tests inject faults with it). Answered with itself.</summary>
internal sealed record TestHook(Action<DatagramSocket> Action);
