using Akka.Actor;
using Dgram.Actors.Client;

namespace Dgram.Actors.Hosting;

/// <summary>
/// Named socket actors of one actor system, resolvable by name as typed clients. Registered by the
/// <c>WithDgramSocket…</c> extensions when Akka.Hosting's hosted service starts the actor system; inject it,
/// or get it with <see cref="For"/>.
/// </summary>
/// <remarks>
/// The sockets exist only once the host has started. Code that may run earlier (a hosted service registered
/// before <c>AddAkka</c>, a constructor) awaits <see cref="GetAsync"/>, which waits for the socket, as
/// Akka.Hosting's <c>IRequiredActor&lt;T&gt;.GetAsync</c> does for actors. Do not await it in an
/// <c>IHostedService.StartAsync</c> that the host runs before Akka's: the host starts its services one after
/// another, so that would wait forever (a <c>BackgroundService</c>'s <c>ExecuteAsync</c> is fine).
/// </remarks>
public sealed class DgramSocketRegistry : IExtension
{
    private readonly object _lock = new();
    private readonly Dictionary<string, Registration> _sockets = new(StringComparer.Ordinal);
    // Names asked for with GetAsync before they were registered; resolved by Add, failed by Complete or termination.
    private readonly Dictionary<string, TaskCompletionSource<Registration>> _waiting = new(StringComparer.Ordinal);
    private bool _complete, _terminated;

    private DgramSocketRegistry(ActorSystem system) =>
        system.WhenTerminated.ContinueWith(_ => Abandon(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>The registry of <paramref name="system"/>.</summary>
    public static DgramSocketRegistry For(ActorSystem system) => system.WithExtension<DgramSocketRegistry, DgramSocketRegistryProvider>();

    internal static DgramSocketRegistry Create(ActorSystem system) => new(system);

    /// <summary>
    /// The client of the socket named <paramref name="name"/>, once the host has started. Before that it throws
    /// <see cref="InvalidOperationException"/> (use <see cref="GetAsync"/>, which waits); a name no extension
    /// registered throws <see cref="KeyNotFoundException"/>.
    /// </summary>
    public SocketClient Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        lock (_lock)
        {
            if (_sockets.TryGetValue(name, out Registration? r)) return r.Client;
            if (!_complete)
            {
                throw new InvalidOperationException(
                    $"socket '{name}' is not registered yet: sockets are created when the host starts (Akka.Hosting's hosted service). " +
                    $"Ask after IHost.StartAsync has returned, or await GetAsync(\"{name}\"), which waits for it.");
            }
            throw Unknown(name);
        }
    }

    /// <summary>
    /// The client of the socket named <paramref name="name"/>, once it is registered and its first start has
    /// finished: safe to call before the host has started. Fails with the start's failure when the socket could
    /// not start (a <see cref="DgramConfigurationException"/> naming the key for a socket from configuration),
    /// with <see cref="KeyNotFoundException"/> when every socket is registered and none has this name, and with
    /// <see cref="InvalidOperationException"/> when the actor system terminated before the socket was registered.
    /// </summary>
    public ValueTask<SocketClient> GetAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        Task<Registration> registered;
        lock (_lock)
        {
            if (_sockets.TryGetValue(name, out Registration? r))
            {
                if (r.Started.IsCompletedSuccessfully) return ValueTask.FromResult(r.Client);
                registered = Task.FromResult(r);
            }
            else if (_complete) return ValueTask.FromException<SocketClient>(Unknown(name));
            else if (_terminated) return ValueTask.FromException<SocketClient>(Abandoned(name));
            else
            {
                if (!_waiting.TryGetValue(name, out TaskCompletionSource<Registration>? waiter))
                {
                    waiter = new TaskCompletionSource<Registration>(TaskCreationOptions.RunContinuationsAsynchronously);
                    _waiting.Add(name, waiter);
                }
                registered = waiter.Task;
            }
        }
        return WhenStarted(registered, cancellationToken);
    }

    private static async ValueTask<SocketClient> WhenStarted(Task<Registration> registered, CancellationToken cancellationToken)
    {
        Registration r = await registered.WaitAsync(cancellationToken).ConfigureAwait(false);
        await r.Started.WaitAsync(cancellationToken).ConfigureAwait(false);
        return r.Client;
    }

    /// <summary>The registered socket names.</summary>
    public IReadOnlyList<string> Names
    {
        get { lock (_lock) return [.. _sockets.Keys]; }
    }

    internal void Add(string name, SocketClient client, Task started)
    {
        var r = new Registration(client, started);
        TaskCompletionSource<Registration>? waiter;
        lock (_lock)
        {
            _sockets.Add(name, r);
            _waiting.Remove(name, out waiter);
        }
        waiter?.TrySetResult(r);
    }

    /// <summary>
    /// Every <c>WithDgramSocket…</c> registration has run (called from an Akka.Hosting startup task, which runs
    /// after every actor starter, and by <see cref="DgramStartGate"/> once every hosted service has started, which
    /// also covers a host with none): a name asked for and still missing will never come. Idempotent.
    /// </summary>
    internal void Complete() => FailWaiting(() => _complete = true, Unknown);

    private void Abandon() => FailWaiting(() => _terminated = true, Abandoned);

    private void FailWaiting(Action mark, Func<string, Exception> failure)
    {
        List<(TaskCompletionSource<Registration> Waiter, Exception Failure)> failed;
        lock (_lock)
        {
            mark();
            failed = [.. _waiting.Select(w => (w.Value, failure(w.Key)))];
            _waiting.Clear();
        }
        foreach ((TaskCompletionSource<Registration> waiter, Exception e) in failed) waiter.TrySetException(e);
    }

    /// <summary>Completes when every registered socket has started; fails with the first socket's reason it could not.</summary>
    internal Task WhenStarted()
    {
        lock (_lock) return Task.WhenAll(_sockets.Values.Select(r => r.Started));
    }

    // Called under the lock.
    private KeyNotFoundException Unknown(string name)
    {
        string[] names = [.. _sockets.Keys.Order(StringComparer.Ordinal)];
        return new KeyNotFoundException(names.Length == 0
            ? $"no socket named '{name}': no socket is registered (add them with WithDgramSockets or WithDgramSocket)"
            : $"no socket named '{name}'; the registered sockets are {string.Join(", ", names)}");
    }

    private static InvalidOperationException Abandoned(string name) =>
        new($"socket '{name}' was never registered: the actor system terminated before the host finished starting it");

    private sealed record Registration(SocketClient Client, Task Started);
}

internal sealed class DgramSocketRegistryProvider : ExtensionIdProvider<DgramSocketRegistry>
{
    public override DgramSocketRegistry CreateExtension(ExtendedActorSystem system) => DgramSocketRegistry.Create(system);
}
