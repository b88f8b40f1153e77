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
/// An incarnation's sends, in mailbox order: single sends (queued and coalesced through the <see cref="Outbox"/>),
/// <c>SendMany</c>, and a send with per-datagram TTL and interface. A send that finds the socket broken throws, so
/// the incarnation fails and the next one takes the unanswered sends.
/// </summary>
internal sealed class SendPath(DatagramSocket socket, SocketSettings settings, SocketShared shared, IActorRef self, Action<long> acknowledge)
{
    private readonly Outbox _outbox = new(settings.SendBatchSize);
    private bool _flushQueued;

    /// <summary>True when single sends are queued and coalesced (SendBatchSize above 1).</summary>
    public bool Coalesces => _outbox.Capacity > 1;

    /// <summary>One datagram now; with <paramref name="ttl"/>, that datagram's own unicast TTL. A bad argument fails <paramref name="command"/> (by default a plain Send).</summary>
    public void Send(ReadOnlyMemory<byte> payload, EndPoint destination, IActorRef replyTo, int? ttl = null, Command? command = null)
    {
        long seq = shared.NextSequence();
        SendResult result;
        try
        {
            result = ttl is int t
                ? socket.SendTo(payload.Span, destination, settings.SendTimeout, t)
                : socket.SendTo(payload.Span, destination, settings.SendTimeout);
        }
        catch (DatagramSocketException e)
        {
            replyTo.Tell(new CommandFailed(command ?? new SocketProtocol.Send(payload, destination), e));
            return;
        }
        shared.CountSend(result);
        replyTo.Tell(new Sent(result, seq));
        ThrowIfBroken("SendTo", result.Status == SendStatus.Error, result.Errno, destination.ToString());
    }

    /// <summary>
    /// Queues a send instead of sending it at once: sends already waiting in the mailbox join it, and the
    /// lot goes out through sendmmsg when a flush marker (queued behind them) or any other message arrives.
    /// A lone send costs one extra message to self, processed in the same mailbox run.
    /// </summary>
    public void Enqueue(SocketProtocol.Send send, long id, IActorRef replyTo)
    {
        EndPoint? to = null;
        DatagramSocketException? invalid = null;
        try
        {
            to = socket.ValidateEndPoint("SendTo", send.Destination);
        }
        catch (DatagramSocketException e)
        {
            invalid = e;
        }
        _outbox.Items.Add(new OutgoingDatagram { Payload = send.Payload, Destination = to, Invalid = invalid, Command = send, ReplyTo = replyTo, Id = id });
        if (_outbox.Items.Count >= _outbox.Capacity)
        {
            Flush();
        }
        else if (!_flushQueued)
        {
            _flushQueued = true;
            self.Tell(FlushOutboxMarker.Instance);
        }
    }

    /// <summary>The flush marker arrived.</summary>
    public void OnFlushMarker()
    {
        _flushQueued = false;
        Flush();
    }

    /// <summary>Sends what the outbox holds, answers each command in order and acknowledges them to the parent.</summary>
    public void Flush()
    {
        List<OutgoingDatagram> items = _outbox.Items;
        if (items.Count == 0) return;
        int tried = _outbox.Transmit(socket, settings.SendTimeout, stopAtFailure: false);
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
                shared.CountSend(d.Result);
            }
            d.ReplyTo!.Tell(new Sent(d.Result, shared.NextSequence()));
        }
        shared.CountSent(sent, bytes);
        // Only answered sends are acknowledged: the rest (after a broken socket) go to the next incarnation.
        acknowledge(items[tried - 1].Id);
        OutgoingDatagram last = items[tried - 1];
        items.Clear();
        if (last.Tried) ThrowIfBroken("SendTo", last.Result.Status != SendStatus.Sent, last.Result.Errno, last.Destination?.ToString());
    }

    /// <summary>Several datagrams in one mailbox step, through sendmmsg; the first refused stops the rest.</summary>
    public void SendMany(SendMany many, IActorRef replyTo)
    {
        long seq = shared.NextSequence();
        List<OutgoingDatagram> items = _outbox.Items; // empty: every message flushes it first
        try
        {
            foreach (var (payload, destination) in many.Datagrams)
            {
                items.Add(new OutgoingDatagram { Payload = payload, Destination = socket.ValidateEndPoint("SendMany", destination) });
            }
        }
        catch (DatagramSocketException e)
        {
            // A bad destination anywhere refuses the whole command before anything is sent.
            items.Clear();
            replyTo.Tell(new CommandFailed(many, e));
            return;
        }
        int tried = _outbox.Transmit(socket, settings.SendTimeout, stopAtFailure: true);
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
        shared.CountSent(total, bytes);
        if (stop.Status != SendStatus.Sent) shared.CountSend(stop);
        replyTo.Tell(new SentMany(new BatchSendResult(stop.Status, total, stop.Errno), seq));
        ThrowIfBroken("SendMany", stop.Status == SendStatus.Error, stop.Errno, null);
    }

    /// <summary>
    /// TTL and interface for one datagram, all in one mailbox step: to a group, the multicast TTL and interface are
    /// set, sent with and restored; to a unicast or broadcast address the TTL travels with the datagram (a cmsg).
    /// </summary>
    public void SendWithOptions(SendWithOptions send, IActorRef replyTo)
    {
        bool multicast = send.Destination is IPEndPoint { Address: var address } && DatagramSocket.IsMulticast(address);
        int? previousTtl = null;
        string? previousInterface = null;
        bool interfaceChanged = false;
        try
        {
            if (send.Ttl is int ttl && multicast) previousTtl = socket.SetMulticastTtl(ttl);
            if (send.InterfaceName is not null)
            {
                previousInterface = socket.SetMulticastInterface(send.InterfaceName);
                interfaceChanged = true;
            }
        }
        catch (DatagramSocketException e)
        {
            Restore();
            replyTo.Tell(new CommandFailed(send, e));
            return;
        }
        try
        {
            Send(send.Payload, send.Destination, replyTo, multicast ? null : send.Ttl, send);
        }
        finally
        {
            Restore();
        }

        void Restore()
        {
            if (previousTtl is int t) socket.SetMulticastTtl(t);
            if (interfaceChanged) socket.SetMulticastInterface(previousInterface);
        }
    }

    /// <summary>The socket is broken: fail this incarnation so the parent builds a new one.</summary>
    private static void ThrowIfBroken(string operation, bool failed, int errno, string? args)
    {
        if (failed && Errno.IsBroken(errno, receiving: false))
        {
            throw new DatagramSocketException(operation, DatagramSocketError.Kernel, errno, args, "the socket is broken");
        }
    }
}

/// <summary>Sent to self behind queued sends: when it arrives, the outbox goes out. One left behind a fault is no news.</summary>
internal sealed class FlushOutboxMarker : IDeadLetterSuppression
{
    public static readonly FlushOutboxMarker Instance = new();
    private FlushOutboxMarker() { }
}
