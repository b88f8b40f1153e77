using Akka.Actor;
using Akka.Hosting;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Supervision;
using Microsoft.Extensions.Configuration;

namespace Dgram.Actors.Hosting;

/// <summary>
/// Named socket actors of one actor system, resolvable by name as typed clients. Registered by the
/// <c>WithDgramSocket…</c> extensions; inject it, or get it with <see cref="For"/>.
/// </summary>
public sealed class DgramSocketRegistry : IExtension
{
    private readonly Dictionary<string, SocketClient> _sockets = new(StringComparer.Ordinal);

    /// <summary>The registry of <paramref name="system"/>.</summary>
    public static DgramSocketRegistry For(ActorSystem system) => system.WithExtension<DgramSocketRegistry, DgramSocketRegistryProvider>();

    /// <summary>The client of the socket named <paramref name="name"/>.</summary>
    public SocketClient Get(string name)
    {
        lock (_sockets)
        {
            return _sockets.TryGetValue(name, out SocketClient? c) ? c : throw new KeyNotFoundException($"no socket named '{name}' is registered");
        }
    }

    /// <summary>The registered socket names.</summary>
    public IReadOnlyList<string> Names
    {
        get { lock (_sockets) return [.. _sockets.Keys]; }
    }

    internal void Add(string name, SocketClient client)
    {
        lock (_sockets) _sockets.Add(name, client);
    }
}

internal sealed class DgramSocketRegistryProvider : ExtensionIdProvider<DgramSocketRegistry>
{
    public override DgramSocketRegistry CreateExtension(ExtendedActorSystem system) => new();
}

/// <summary>Marker key for <see cref="IRequiredActor{TKey}"/> when a socket is registered without its own key type.</summary>
public sealed class DgramSocket;

/// <summary>Akka.Hosting extensions that run socket actors inside a host.</summary>
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
        return builder.WithActors((system, registry) =>
        {
            IActorRef actor = system.ActorOf(SocketSupervisor.Props(settings), settings.Name);
            registry.Register<TKey>(actor);
            DgramSocketRegistry.For(system).Add(settings.Name, new SocketClient(actor));
        });
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
    /// </summary>
    public static AkkaConfigurationBuilder WithDgramSockets(this AkkaConfigurationBuilder builder, IConfiguration section)
    {
        IReadOnlyList<SocketSettings> sockets = SocketConfiguration.ReadAll(section);
        return builder.WithActors((system, _) =>
        {
            foreach (SocketSettings settings in sockets)
            {
                IActorRef actor = system.ActorOf(SocketSupervisor.Props(settings), settings.Name);
                DgramSocketRegistry.For(system).Add(settings.Name, new SocketClient(actor));
            }
        });
    }
}

/// <summary>Dependency-injection registrations for the socket registry.</summary>
public static class DgramServiceCollectionExtensions
{
    /// <summary>Makes <see cref="DgramSocketRegistry"/> injectable (resolved from the host's actor system).</summary>
    public static Microsoft.Extensions.DependencyInjection.IServiceCollection AddDgramSocketRegistry(this Microsoft.Extensions.DependencyInjection.IServiceCollection services) =>
        Microsoft.Extensions.DependencyInjection.ServiceCollectionServiceExtensions.AddSingleton(services,
            sp => DgramSocketRegistry.For((ActorSystem)sp.GetService(typeof(ActorSystem))!));
}
