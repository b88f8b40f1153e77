using System.Net;
using Akka.Actor;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Supervision;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Client;

/// <summary>The answer to a pull receive: a datagram, or timed out (never an exception).</summary>
/// <param name="Datagram">The datagram, or null when timed out.</param>
public readonly record struct PullResult(Received? Datagram)
{
    /// <summary>No datagram arrived within the timeout.</summary>
    public bool TimedOut => Datagram is null;
}

/// <summary>
/// A typed client for a socket actor, so nobody hand-writes <c>Ask</c>: one async method per seed
/// operation. Setters return the previous value. A failed command throws the socket core's
/// <see cref="DatagramSocketException"/> (operation, errno); timeouts of pulls and sends are results.
/// The reference stays valid across socket restarts.
/// </summary>
public sealed class SocketClient
{
    private readonly TimeSpan _askTimeout;
    /// <summary>Cancelled when the socket actor stops: asks then fail at once instead of after the ask timeout.</summary>
    private readonly CancellationTokenSource _stopped = new();

    /// <summary>Wraps a socket actor reference.</summary>
    public SocketClient(IActorRef socket, TimeSpan? askTimeout = null)
    {
        Socket = socket;
        _askTimeout = askTimeout ?? TimeSpan.FromSeconds(30);
        socket.WatchAsync().ContinueWith(static (t, state) =>
        {
            // A reference that cannot be watched just keeps the ask timeouts.
            if (t.IsCompletedSuccessfully && t.Result) ((CancellationTokenSource)state!).Cancel();
            else _ = t.Exception;
        }, _stopped, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>The socket actor (a <see cref="SocketSupervisor"/>).</summary>
    public IActorRef Socket { get; }

    /// <summary>Creates a socket actor and waits until it is bound and configured.</summary>
    /// <exception cref="PlatformNotSupportedException">Not on Linux: the library is Linux-only.</exception>
    public static async Task<SocketClient> StartAsync(IActorRefFactory system, SocketSettings settings, TimeSpan? timeout = null)
    {
        LinuxOnly.Require("SocketClient.StartAsync");
        settings.Validate();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        IActorRef actor = system.ActorOf(SocketSupervisor.Props(settings, started), settings.Name);
        var client = new SocketClient(actor);
        try
        {
            await started.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // A socket that did not start is not left behind retrying.
            await actor.GracefulStop(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            if (e is TimeoutException)
            {
                throw new DatagramSocketException("Start", DatagramSocketError.Closed, Sockets.Native.Errno.ETIMEDOUT, settings.Name, "the socket did not start in time");
            }
            throw;
        }
        return client;
    }

    /// <summary>Seed <c>mcastloop()</c>.</summary>
    public async Task<bool> GetMulticastLoopAsync() => (await AskAsync<OptionValue<bool>>(GetMulticastLoop.Instance).ConfigureAwait(false)).Value;
    /// <summary>Seed <c>mcastloop(enable)</c>: returns the previous value.</summary>
    public async Task<bool> SetMulticastLoopAsync(bool enable) => (await AskAsync<OptionValue<bool>>(new SetMulticastLoop(enable)).ConfigureAwait(false)).Value;
    /// <summary>Seed <c>mcastttl()</c>.</summary>
    public async Task<int> GetMulticastTtlAsync() => (await AskAsync<OptionValue<int>>(GetMulticastTtl.Instance).ConfigureAwait(false)).Value;
    /// <summary>Seed <c>mcastttl(ttl)</c>: returns the previous value.</summary>
    public async Task<int> SetMulticastTtlAsync(int ttl) => (await AskAsync<OptionValue<int>>(new SetMulticastTtl(ttl)).ConfigureAwait(false)).Value;
    /// <summary>The unicast TTL / hop limit (IP_TTL / IPV6_UNICAST_HOPS): the value set, or the system default (64).</summary>
    public async Task<int> GetUnicastTtlAsync() => (await AskAsync<OptionValue<int>>(GetUnicastTtl.Instance).ConfigureAwait(false)).Value;
    /// <summary>Sets the unicast TTL / hop limit (1–255, or -1 for the system default); returns the previous value. Kept across restarts.</summary>
    public async Task<int> SetUnicastTtlAsync(int ttl) => (await AskAsync<OptionValue<int>>(new SetUnicastTtl(ttl)).ConfigureAwait(false)).Value;
    /// <summary>Seed <c>mcastif()</c>.</summary>
    public async Task<string?> GetMulticastInterfaceAsync() => (await AskAsync<OptionValue<string?>>(GetMulticastInterface.Instance).ConfigureAwait(false)).Value;
    /// <summary>Seed <c>mcastif(ifname)</c>: returns the previous name.</summary>
    public async Task<string?> SetMulticastInterfaceAsync(string? interfaceName) => (await AskAsync<OptionValue<string?>>(new SetMulticastInterface(interfaceName)).ConfigureAwait(false)).Value;
    /// <summary>Seed <c>broadcast()</c>.</summary>
    public async Task<bool> GetBroadcastAsync() => (await AskAsync<OptionValue<bool>>(GetBroadcast.Instance).ConfigureAwait(false)).Value;
    /// <summary>Seed <c>broadcast(enable)</c>: returns the previous value.</summary>
    public async Task<bool> SetBroadcastAsync(bool enable) => (await AskAsync<OptionValue<bool>>(new SetBroadcast(enable)).ConfigureAwait(false)).Value;

    /// <summary>Seed <c>mcastjoin</c>. Pending when the interface is absent (and the policy allows).</summary>
    public Task<MembershipStatus> JoinGroupAsync(IPAddress group, string? interfaceName = null) => Membership(MembershipChange.Join, group, null, interfaceName);
    /// <summary>Seed <c>mcastleave</c>.</summary>
    public Task<MembershipStatus> LeaveGroupAsync(IPAddress group, string? interfaceName = null) => Membership(MembershipChange.Leave, group, null, interfaceName);
    /// <summary>Seed <c>mcastjoinsrc</c>.</summary>
    public Task<MembershipStatus> JoinSourceGroupAsync(IPAddress group, IPAddress source, string? interfaceName = null) => Membership(MembershipChange.JoinSource, group, source, interfaceName);
    /// <summary>Seed <c>mcastleavesrc</c>.</summary>
    public Task<MembershipStatus> LeaveSourceGroupAsync(IPAddress group, IPAddress source, string? interfaceName = null) => Membership(MembershipChange.LeaveSource, group, source, interfaceName);
    /// <summary>Seed <c>mcastblocksrc</c>.</summary>
    public Task<MembershipStatus> BlockSourceAsync(IPAddress group, IPAddress source, string? interfaceName = null) => Membership(MembershipChange.BlockSource, group, source, interfaceName);
    /// <summary>Seed <c>mcastunblocksrc</c>.</summary>
    public Task<MembershipStatus> UnblockSourceAsync(IPAddress group, IPAddress source, string? interfaceName = null) => Membership(MembershipChange.UnblockSource, group, source, interfaceName);

    private async Task<MembershipStatus> Membership(MembershipChange change, IPAddress group, IPAddress? source, string? interfaceName) =>
        (await AskAsync<Applied>(new ChangeMembership(change, group, source, interfaceName)).ConfigureAwait(false)).Status;

    /// <summary>
    /// Seed <c>sendto</c> (and <c>sendtosync</c>: the mailbox serialises sends). A send error is in the result.
    /// The payload is copied before the call returns, so the caller may reuse its buffer at once. Beyond
    /// <see cref="SocketSettings.MaxQueuedCommands"/> waiting commands it throws at once with
    /// <see cref="DatagramSocketError.Overloaded"/>.
    /// </summary>
    public async Task<SendResult> SendToAsync(ReadOnlyMemory<byte> payload, EndPoint destination) =>
        (await AskAsync<Sent>(new Send(payload.ToArray(), destination)).ConfigureAwait(false)).Result;

    /// <summary>
    /// Sends with this datagram's own TTL and/or multicast interface, whatever other callers set meanwhile (the payload is
    /// copied, as by <see cref="SendToAsync(ReadOnlyMemory{byte}, EndPoint)"/>). The TTL is the multicast TTL (-1–255) for a
    /// group and the datagram's TTL / hop limit (1–255) for a unicast or broadcast address.
    /// </summary>
    public async Task<SendResult> SendToAsync(ReadOnlyMemory<byte> payload, EndPoint destination, int? ttl, string? interfaceName) =>
        (await AskAsync<Sent>(new SendWithOptions(payload.ToArray(), destination, ttl, interfaceName)).ConfigureAwait(false)).Result;

    /// <summary>Sends several datagrams in one mailbox step (sendmmsg), in order; the result says how many went. The list and payloads are copied before the call returns.</summary>
    public async Task<BatchSendResult> SendManyAsync(IReadOnlyList<(ReadOnlyMemory<byte> Payload, EndPoint Destination)> datagrams) =>
        (await AskAsync<SentMany>(new SendMany(Copy(datagrams))).ConfigureAwait(false)).Result;

    /// <summary>One array for all payloads: the caller's buffers are free again when the call returns.</summary>
    private static (ReadOnlyMemory<byte>, EndPoint)[] Copy(IReadOnlyList<(ReadOnlyMemory<byte> Payload, EndPoint Destination)> datagrams)
    {
        int total = 0;
        foreach (var d in datagrams) total += d.Payload.Length;
        byte[] bytes = new byte[total];
        var copy = new (ReadOnlyMemory<byte>, EndPoint)[datagrams.Count];
        int offset = 0;
        for (int i = 0; i < copy.Length; i++)
        {
            var (payload, destination) = datagrams[i];
            payload.Span.CopyTo(bytes.AsSpan(offset));
            copy[i] = (bytes.AsMemory(offset, payload.Length), destination);
            offset += payload.Length;
        }
        return copy;
    }

    /// <summary>Seed <c>recvfrom</c> (and <c>recvfromsync</c>): the next datagram, or timed out.</summary>
    public async Task<PullResult> ReceiveFromAsync(TimeSpan timeout)
    {
        // An infinite pull waits as long as it takes (a negative timeout is refused by the actor).
        TimeSpan? askTimeout = timeout == Timeout.InfiniteTimeSpan ? null : timeout < TimeSpan.Zero ? _askTimeout : timeout + _askTimeout;
        object reply = await AskCore(new SocketProtocol.Receive(timeout), askTimeout, nameof(SocketProtocol.Receive)).ConfigureAwait(false);
        return reply switch
        {
            Received r => new PullResult(r),
            ReceiveTimedOut => new PullResult(null),
            CommandFailed f => throw f.Cause,
            _ => throw new InvalidOperationException("unexpected reply " + reply),
        };
    }

    /// <summary>
    /// Subscribes a local actor to every datagram and status event, bounded by its mailbox: while it holds
    /// <paramref name="limit"/>'s capacity (default 1,024 messages) the overflow policy applies (default: drop, counted).
    /// </summary>
    public Task SubscribeAsync(IActorRef subscriber, MailboxLimit? limit = null) => AskAsync<Subscribed>(new Subscribe(subscriber, limit));
    /// <summary>Ends an actor's subscription.</summary>
    public Task UnsubscribeAsync(IActorRef subscriber) => AskAsync<Unsubscribed>(new Unsubscribe(subscriber));
    /// <summary>Adds a span handler the read loop calls on its own thread (zero-copy, zero allocation).</summary>
    public async Task AddHandlerAsync(IDatagramHandler handler)
    {
        object reply = await AskCore(new AddHandler(handler), _askTimeout, nameof(AddHandler)).ConfigureAwait(false);
        if (reply is not Subscribed) throw new InvalidOperationException($"unexpected reply to AddHandler: {reply}");
    }

    /// <summary>Removes a span handler.</summary>
    public async Task RemoveHandlerAsync(IDatagramHandler handler)
    {
        object reply = await AskCore(new RemoveHandler(handler), _askTimeout, nameof(RemoveHandler)).ConfigureAwait(false);
        if (reply is not Unsubscribed) throw new InvalidOperationException($"unexpected reply to RemoveHandler: {reply}");
    }
    /// <summary>Stops reading (the kernel queue fills; its drops are counted).</summary>
    public Task SuspendReadingAsync() => AskAsync<ReadingSuspended>(SuspendReading.Instance);
    /// <summary>Reads again.</summary>
    public Task ResumeReadingAsync() => AskAsync<ReadingResumed>(ResumeReading.Instance);
    /// <summary>The socket's state, read from the kernel where it can tell.</summary>
    public Task<SocketState> GetStateAsync() => AskAsync<SocketState>(GetState.Instance);

    /// <summary>
    /// Closes this socket for good (no restart). Commands a running socket has taken are applied first (those waiting for
    /// a restart or a start in progress are answered Closed); then the socket is closed, so
    /// its groups leave the kernel tables and its port is free, subscribers get <see cref="SocketStopped"/> and Rx streams
    /// complete. Returns once the socket is closed; from then on every call on this client fails with
    /// <see cref="DatagramSocketError.Closed"/> (EBADF), and pulls or commands still waiting are answered so. Idempotent.
    /// </summary>
    /// <param name="timeout">How long to wait for the close (default: the ask timeout). A span handler or inline
    /// subscriber blocking the engine thread delays it; past the timeout this throws Closed with ETIMEDOUT.</param>
    public async Task StopAsync(TimeSpan? timeout = null)
    {
        TimeSpan wait = timeout ?? _askTimeout;
        using var deadline = new CancellationTokenSource(wait);
        Task<bool> terminated = Socket.WatchAsync(deadline.Token);
        Socket.Tell(StopSocket.Instance);
        if (!await terminated.ConfigureAwait(false))
        {
            throw new DatagramSocketException("Stop", DatagramSocketError.Closed, Sockets.Native.Errno.ETIMEDOUT, Socket.Path.Name,
                $"the socket did not close within {wait.TotalSeconds:0.#} s");
        }
        _stopped.Cancel();
    }

    /// <summary>
    /// Asks the socket actor. A stopped actor answers nothing (commands go to dead letters), so the ask
    /// fails with Closed/EBADF as soon as the actor is known to be stopped, as a disposed socket's calls
    /// do, rather than after the ask timeout.
    /// </summary>
    private async Task<object> AskCore(object message, TimeSpan? timeout, string operation)
    {
        if (_stopped.IsCancellationRequested || IsKnownStopped()) throw Stopped(operation);
        try
        {
            return await Socket.Ask(message, timeout, _stopped.Token).ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            throw NoAnswer(operation);
        }
        catch (OperationCanceledException) when (_stopped.IsCancellationRequested)
        {
            throw Stopped(operation);
        }
    }

    /// <summary>
    /// A local actor that is already dead says so at once; the watch above tells only a moment later
    /// (a client made after the stop would otherwise race it). Obsolete in Akka in favour of watching,
    /// which is what the client does as well; this only closes the window before the watch answers.
    /// </summary>
#pragma warning disable CS0618
    private bool IsKnownStopped() => Socket is IInternalActorRef { IsTerminated: true };
#pragma warning restore CS0618

    private DatagramSocketException Stopped(string operation) => DatagramSocketException.Closed(operation, Socket.Path.Name, "the socket actor is stopped");

    /// <summary>Only a dead or wedged actor leaves a command unanswered; report it as the socket error it is.</summary>
    private DatagramSocketException NoAnswer(string operation) =>
        new(operation, DatagramSocketError.Closed, Sockets.Native.Errno.ETIMEDOUT, Socket.Path.Name,
            $"no answer within {_askTimeout.TotalSeconds:0.#} s: the socket actor is stopped or not responding");

    private async Task<T> AskAsync<T>(Command command)
    {
        object reply = await AskCore(command, _askTimeout, command.GetType().Name).ConfigureAwait(false);
        return reply switch
        {
            T t => t,
            CommandFailed f => throw f.Cause,
            _ => throw new InvalidOperationException($"unexpected reply to {command}: {reply}"),
        };
    }
}
