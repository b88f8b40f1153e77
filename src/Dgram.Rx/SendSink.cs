using System.Net;
using System.Reactive.Subjects;
using Dgram.Actors.Client;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Rx;

/// <summary>A datagram to send.</summary>
/// <param name="Payload">The payload (copied when the sink takes it).</param>
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
/// At most <see cref="MaxInFlight"/> sends wait for their answer: a datagram beyond that is not sent, and its
/// outcome (an <see cref="DatagramSocketError.Overloaded"/> error) is published at once, ahead of the outcomes
/// still in flight, and counted in <see cref="Overloaded"/>. Each payload is copied before <c>OnNext</c> returns.
/// </summary>
public sealed class SendSink : IObserver<OutgoingDatagram>
{
    private readonly SocketClient _client;
    private readonly ISubject<SendOutcome> _results = Subject.Synchronize(new Subject<SendOutcome>());
    private readonly object _lock = new();
    private Task _tail = Task.CompletedTask;
    private bool _done;
    private int _inFlight;
    private long _overloaded;

    internal SendSink(SocketClient client, int maxInFlight)
    {
        if (maxInFlight < 1) throw new ArgumentOutOfRangeException(nameof(maxInFlight), maxInFlight, "at least 1");
        _client = client;
        MaxInFlight = maxInFlight;
    }

    /// <summary>Outcomes, in send order (overload outcomes at once).</summary>
    public IObservable<SendOutcome> Results => _results;

    /// <summary>The most sends waiting for their answer.</summary>
    public int MaxInFlight { get; }

    /// <summary>Datagrams not sent because <see cref="MaxInFlight"/> sends were already waiting.</summary>
    public long Overloaded => Interlocked.Read(ref _overloaded);

    /// <inheritdoc />
    public void OnNext(OutgoingDatagram value)
    {
        lock (_lock)
        {
            if (_done) return;
            if (_inFlight >= MaxInFlight)
            {
                Interlocked.Increment(ref _overloaded);
                PublishSafely(new SendOutcome(value, default, new DatagramSocketException("SendSink", DatagramSocketError.Overloaded, Errno.ENOBUFS,
                    value.Destination.ToString(), $"{MaxInFlight} sends already wait for their answer")));
                return;
            }
            _inFlight++;
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
        lock (_lock) _inFlight--;
        PublishSafely(outcome);
    }

    private void PublishSafely(SendOutcome outcome)
    {
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
