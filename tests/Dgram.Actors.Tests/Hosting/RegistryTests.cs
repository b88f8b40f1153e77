using System.Net;
using Akka.Hosting;
using Dgram.Actors.Client;
using Dgram.Actors.Hosting;
using Dgram.Actors.Protocol;
using Dgram.Actors.Tests.Lab;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Hosting;

/// <summary>
/// <see cref="DgramSocketRegistry"/> asked before the host has started: <c>GetAsync</c> waits for the socket
/// and its first start, <c>Get</c> says when to ask. The registry is resolved from the host's services before
/// <c>StartAsync</c>, as a hosted service registered ahead of Akka's would see it.
/// </summary>
[Trait("Area", "Hosting")]
public sealed class RegistryTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private readonly ITestOutputHelper _output;

    public RegistryTests(ITestOutputHelper output)
    {
        LabNet.Require();
        _output = output;
    }

    private static Dictionary<string, string?> OneSocket(string name, IPAddress group) => new()
    {
        [$"Dgram:Sockets:{name}:Bind"] = $"0.0.0.0:{LabNet.NextPort()}",
        [$"Dgram:Sockets:{name}:Groups:0:Group"] = group.ToString(),
        [$"Dgram:Sockets:{name}:Groups:0:Interface"] = LabNet.Rx0,
    };

    [Fact]
    public async Task GetAsync_BeforeTheHostStarts_CompletesOnceItHasStarted_GetSaysWhenToAsk()
    {
        using IHost host = HostingTests.Build(OneSocket("rx", LabFamily.V4.NewGroup()), _output);
        var registry = host.Services.GetRequiredService<DgramSocketRegistry>();

        Task<SocketClient> early = registry.GetAsync("rx").AsTask();
        var tooEarly = Assert.Throws<InvalidOperationException>(() => registry.Get("rx"));
        Assert.False(early.IsCompleted);

        await host.StartAsync().WaitAsync(Bound);
        SocketClient client = await early.WaitAsync(Bound);
        SocketState state = await client.GetStateAsync();
        Assert.Equal(MembershipStatus.Active, Assert.Single(state.Memberships).Status);
        Assert.Same(client, registry.Get("rx"));
        Assert.Contains("GetAsync", tooEarly.Message);
        Assert.Contains("after IHost.StartAsync", tooEarly.Message);
        await host.StopAsync();
    }

    [Fact]
    public async Task GetAsync_UnknownName_FailsOnceEverySocketIsRegistered_NamingTheRegisteredOnes()
    {
        using IHost host = HostingTests.Build(OneSocket("rx", LabFamily.V4.NewGroup()), _output);
        var registry = host.Services.GetRequiredService<DgramSocketRegistry>();

        Task<SocketClient> early = registry.GetAsync("rz").AsTask();
        Assert.False(early.IsCompleted);
        await host.StartAsync().WaitAsync(Bound);

        var e = await Assert.ThrowsAsync<KeyNotFoundException>(() => early.WaitAsync(Bound));
        Assert.Equal("no socket named 'rz'; the registered sockets are rx", e.Message);
        await Assert.ThrowsAsync<KeyNotFoundException>(() => registry.GetAsync("rz").AsTask());
        Assert.Equal(e.Message, Assert.Throws<KeyNotFoundException>(() => registry.Get("rz")).Message);
        await host.StopAsync();
    }

    [Fact]
    public async Task GetAsync_HostWithTheRegistryButNoSockets_FailsOnceTheHostHasStarted()
    {
        // AddDgramSocketRegistry without any WithDgramSocket…: nothing else would ever say registration is over.
        using IHost host = Host.CreateDefaultBuilder()
            .ConfigureLogging(l => l.LogToTestOutput(_output))
            .ConfigureServices(services =>
            {
                services.AddDgramSocketRegistry();
                services.AddAkka("dgram-host-" + LabNet.NextPort(), (akka, _) => akka.LogToTestOutput(_output));
            })
            .Build();
        var registry = host.Services.GetRequiredService<DgramSocketRegistry>();

        Task<SocketClient> early = registry.GetAsync("md").AsTask();
        await host.StartAsync().WaitAsync(Bound);

        var e = await Assert.ThrowsAsync<KeyNotFoundException>(() => early.WaitAsync(Bound));
        Assert.Contains("'md'", e.Message);
        await host.StopAsync();
    }

    [Fact]
    public async Task GetAsync_SocketWhoseStartFails_FailsWithThatFailure()
    {
        // 198.51.100.253 is on no interface (LabLink keeps .250-.254 free): the bind fails with EADDRNOTAVAIL.
        using IHost host = HostingTests.Build(new() { ["Dgram:Sockets:bad:Bind"] = $"198.51.100.253:{LabNet.NextPort()}" }, _output);
        var registry = host.Services.GetRequiredService<DgramSocketRegistry>();

        Task<SocketClient> early = registry.GetAsync("bad").AsTask();
        var start = await Assert.ThrowsAsync<DgramConfigurationException>(() => host.StartAsync().WaitAsync(Bound));

        var e = await Assert.ThrowsAsync<DgramConfigurationException>(() => early.WaitAsync(Bound));
        Assert.Same(start, e);
        Assert.Equal("Dgram:Sockets:bad:Bind", e.Setting);
        Assert.Contains("EADDRNOTAVAIL", e.Message);
        await host.StopAsync();
    }

    [Fact]
    public async Task GetAsync_ActorSystemTerminatedBeforeRegistration_FailsInsteadOfWaitingForever()
    {
        // The host never starts (as when its start is cancelled or an earlier hosted service fails): the actor
        // system that resolving the registry created is terminated before any socket is registered.
        using IHost host = HostingTests.Build(OneSocket("rx", LabFamily.V4.NewGroup()), _output);
        var registry = host.Services.GetRequiredService<DgramSocketRegistry>();

        Task<SocketClient> early = registry.GetAsync("rx").AsTask();
        Assert.False(early.IsCompleted);
        await host.Services.GetRequiredService<Akka.Actor.ActorSystem>().Terminate().WaitAsync(Bound);

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => early.WaitAsync(Bound));
        Assert.Contains("'rx' was never registered", e.Message);
        await Assert.ThrowsAsync<InvalidOperationException>(() => registry.GetAsync("rx").AsTask());
    }
}
