using System.Net;
using System.Reactive.Subjects;
using Dgram.Actors.Client;
using Dgram.Actors.Sockets;

namespace Dgram.Rx;

/// <summary>A datagram to send.</summary>
/// <param name="Payload">The payload (not changed until its outcome is published).</param>
/// <param name="Destination">Where to.</param>
public readonly record struct OutgoingDatagram(ReadOnlyMemory<byte> Payload, EndPoint Destination);

/// <summary>The outcome of one sink send: the kernel's result, or the error that kept it from the socket.</summary>
/// <param name="Datagram">What was sent.</param>
/// <param name="Result">Bytes sent, errno, timed out (default when <paramref name="Error"/> is set).</param>
/// <param name="Error">A command failure (bad destination, stopped socket), or null.</param>
public readonly record struct SendOutcome(OutgoingDatagram Datagram, SendResult Result, Exception? Error)
{
    /// <summary>True when the kernel took the datagram.</summary>
    public bool Succeeded => Error is null && Result.Status == SendStatus.Sent;
}

/// <summary>
/// An <see cref="IObserver{T}"/> of outgoing datagrams that sends through the socket actor in order
/// (one mailbox, so no two sends interleave), with the outcomes on <see cref="Results"/> in the same order.
/// </summary>
public sealed class SendSink : IObserver<OutgoingDatagram>
{
    private readonly SocketClient _client;
    private readonly ISubject<SendOutcome> _results = Subject.Synchronize(new Subject<SendOutcome>());
    private readonly object _lock = new();
    private Task _tail = Task.CompletedTask;
    private bool _done;

    internal SendSink(SocketClient client) => _client = client;

    /// <summary>Outcomes, in send order.</summary>
    public IObservable<SendOutcome> Results => _results;

    /// <inheritdoc />
    public void OnNext(OutgoingDatagram value)
    {
        lock (_lock)
        {
            if (_done) return;
            // Told now, in order (the client's ask is sent before its first await): the mailbox keeps the
            // order; the outcome is published after the previous one.
            Task<SendResult> reply = _client.SendToAsync(value.Payload, value.Destination);
            Task previous = _tail;
            _tail = Publish(previous, reply, value);
        }
    }

    private async Task Publish(Task previous, Task<SendResult> reply, OutgoingDatagram value)
    {
        await previous.ConfigureAwait(false);
        SendOutcome outcome;
        try
        {
            // A refused command, a stopped socket or no answer: the client's DatagramSocketException.
            outcome = new SendOutcome(value, await reply.ConfigureAwait(false), null);
        }
        catch (Exception e)
        {
            outcome = new SendOutcome(value, default, e);
        }
        try
        {
            _results.OnNext(outcome);
        }
        catch (Exception)
        {
            // An outcome observer that throws must not break the chain for the outcomes after it.
        }
    }

    /// <inheritdoc />
    public void OnCompleted() => End(null);

    /// <inheritdoc />
    public void OnError(Exception error) => End(error);

    private void End(Exception? error)
    {
        Task tail;
        lock (_lock)
        {
            if (_done) return;
            _done = true;
            tail = _tail;
        }
        tail.ContinueWith(_ =>
        {
            if (error is null) _results.OnCompleted();
            else _results.OnError(error);
        }, TaskScheduler.Default);
    }
}
