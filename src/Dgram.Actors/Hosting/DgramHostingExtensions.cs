using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Supervision;
using Dgram.Actors.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Dgram.Actors.Hosting;

/// <summary>
/// Fails the host's start when a socket could not start. Akka.Hosting's own hosted service logs a failed
/// actor start and stops the application without failing <c>StartAsync</c>; this service waits, once every
/// hosted service has started, for the sockets' first incarnations and rethrows the first failure (naming
/// the configuration key), so <c>Host.StartAsync</c> throws and nothing runs with a dead socket.
/// </summary>
internal sealed class DgramStartGate(IServiceProvider services) : Microsoft.Extensions.Hosting.IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StartedAsync(CancellationToken cancellationToken)
    {
        // No actor system (Akka's hosted service failed): that failure is Akka.Hosting's to report.
        if (services.GetService(typeof(ActorSystem)) is not ActorSystem system) return;
        DgramSocketRegistry registry = DgramSocketRegistry.For(system);
        // Every hosted service has started, so every socket that will be registered is: also when no
        // WithDgramSocket… was called at all, and so no startup task of theirs completes the registration.
        registry.Complete();
        Task all = registry.WhenStarted();
        try
        {
            await all.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (all.IsFaulted)
        {
            throw all.Exception!.InnerExceptions[0];
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Marker key for <see cref="IRequiredActor{TKey}"/> when a socket is registered without its own key type.</summary>
public sealed class DgramSocket;

/// <summary>Akka.Hosting extensions that run socket actors inside a host.</summary>
/// <remarks>
/// <para>The sockets are created when Akka.Hosting's hosted service starts the actor system: resolve them with
/// <see cref="DgramSocketRegistry.GetAsync"/> (waits) or, once the host has started, <see cref="DgramSocketRegistry.Get"/>.</para>
/// <para>Logging: the sockets log (restarts, a failed start) through the actor system's loggers, which are
/// Akka's own console logger unless configured, in Akka's format beside the host's <c>ILogger</c> lines. These
/// extensions leave the loggers alone: each <c>ConfigureLoggers</c> call replaces the logger list and level of
/// the calls before it, so calling it here would drop a logger you set up earlier (Serilog's, say). To send
/// Akka's lines through <c>Microsoft.Extensions.Logging</c>, add
/// <c>akka.ConfigureLoggers(l =&gt; { l.ClearLoggers(); l.AddLoggerFactory(); })</c> to your <c>AddAkka</c> call.</para>
/// </remarks>
public static class DgramHostingExtensions
{
    /// <summary>
    /// Starts a socket actor for <paramref name="settings"/> with the actor system, registers it under
    /// <typeparamref name="TKey"/> (resolvable as <c>IRequiredActor&lt;TKey&gt;</c>) and by name in
    /// <see cref="DgramSocketRegistry"/>. Settings are validated now: a bad one stops the host at start.
    /// </summary>
    public static AkkaConfigurationBuilder WithDgramSocket<TKey>(this AkkaConfigurationBuilder builder, SocketSettings settings)
    {
        settings.Validate();
        return builder.WithActors((system, registry, resolver) =>
        {
            IActorRef actor = Start(system, resolver, settings, configurationPath: null);
            registry.Register<TKey>(actor);
        }).AddStartup(CompleteRegistration);
    }

    // Akka.Hosting runs startup tasks after every actor starter: from then on an unknown name is unknown for good.
    private static void CompleteRegistration(ActorSystem system, IActorRegistry _) => DgramSocketRegistry.For(system).Complete();

    /// <summary>
    /// Creates the socket actor and registers it with its start task. A start failure fails that task (see
    /// <see cref="DgramStartGate"/>), as a <see cref="DgramConfigurationException"/> naming the configuration
    /// key when the socket came from configuration, else as the socket's own exception.
    /// </summary>
    private static IActorRef Start(ActorSystem system, Akka.DependencyInjection.IDependencyResolver resolver, SocketSettings settings, string? configurationPath)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        IActorRef actor = system.ActorOf(SocketSupervisor.Props(settings, started), settings.Name);
        Task outcome = NameTheSetting(started.Task, configurationPath);
        DgramSocketRegistry.For(system).Add(settings.Name, new SocketClient(actor), outcome);
        if (resolver.GetService<DgramStartGate>() is null)
        {
            // Nothing will fail the host: at least say so, as an error, once.
            outcome.ContinueWith(t => system.Log.Error(t.Exception!.InnerExceptions[0],
                "Socket {0} could not start; the host runs on without it (services.AddDgramSocketRegistry() makes this stop the host)", settings.Name),
                CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
        return actor;
    }

    private static async Task NameTheSetting(Task started, string? configurationPath)
    {
        try
        {
            await started.ConfigureAwait(false);
        }
        catch (DatagramSocketException e) when (configurationPath is not null && e.Setting is { } setting)
        {
            throw new DgramConfigurationException(configurationPath + ":" + SocketConfiguration.ConfigurationKey(setting), e.Message, e);
        }
    }

    /// <summary>Starts a socket actor built in code (see <see cref="WithDgramSocket{TKey}(AkkaConfigurationBuilder, SocketSettings)"/>).</summary>
    public static AkkaConfigurationBuilder WithDgramSocket<TKey>(this AkkaConfigurationBuilder builder, string name,
        System.Net.Sockets.AddressFamily family, Func<SocketSettings, SocketSettings> configure) =>
        builder.WithDgramSocket<TKey>(configure(new SocketSettings { Name = name, Family = family }));

    /// <summary>
    /// Starts one socket actor per child of <paramref name="section"/> (e.g. <c>Dgram:Sockets</c>),
    /// named after the child's key, registered by name in <see cref="DgramSocketRegistry"/>. Every
    /// setting is validated now: a malformed address, a non-multicast group or a family mismatch stops
    /// the host with one message naming the setting (<see cref="DgramConfigurationException"/>).
    /// It does not route Akka's log lines to <c>ILogger</c> (see the remarks on <see cref="DgramHostingExtensions"/>).
    /// </summary>
    public static AkkaConfigurationBuilder WithDgramSockets(this AkkaConfigurationBuilder builder, IConfiguration section)
    {
        IReadOnlyList<SocketSettings> sockets = SocketConfiguration.ReadAll(section);
        return builder.WithActors((system, _, resolver) =>
        {
            foreach (SocketSettings settings in sockets) Start(system, resolver, settings, section is IConfigurationSection s ? s.Path + ":" + settings.Name : settings.Name);
        }).AddStartup(CompleteRegistration);
    }
}

/// <summary>Dependency-injection registrations for the socket registry.</summary>
public static class DgramServiceCollectionExtensions
{
    /// <summary>
    /// Makes <see cref="DgramSocketRegistry"/> injectable (resolved from the host's actor system), and makes the
    /// host's start fail when a socket cannot start (the exception names the setting), instead of running on
    /// with a dead socket.
    /// </summary>
    public static IServiceCollection AddDgramSocketRegistry(this IServiceCollection services)
    {
        services.AddSingleton(sp => DgramSocketRegistry.For((ActorSystem)sp.GetService(typeof(ActorSystem))!));
        services.AddSingleton<DgramStartGate>();
        services.AddHostedService(sp => sp.GetRequiredService<DgramStartGate>());
        return services;
    }
}
