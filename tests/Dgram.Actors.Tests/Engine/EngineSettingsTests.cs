using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using Dgram.Actors.Client;
using Dgram.Actors.Engine;
using Dgram.Actors.Hosting;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace Dgram.Actors.Tests.Engine;

/// <summary>The engine's configuration section is strict, and a socket's DedicatedReadThread comes from configuration too.</summary>
[Trait("Area", "Engine")]
public sealed class EngineSettingsTests
{
    [Fact]
    public void Defaults_WithoutTheSection_HalfTheProcessors_OneToFour()
    {
        EngineSettings s = EngineSettings.From(ConfigurationFactory.Empty);
        Assert.Equal(Math.Clamp(Environment.ProcessorCount / 2, 1, 4), s.Threads);
        Assert.Equal(4, s.ReadsPerWakeup);
        Assert.Equal(TimeSpan.FromMilliseconds(100), s.BlockingBudget);
    }

    [Fact]
    public void GivenValues_AreTaken()
    {
        EngineSettings s = EngineSettings.From(ConfigurationFactory.ParseString("dgram.engine { threads = 3, reads-per-wakeup = 8, blocking-budget = 250ms }"));
        Assert.Equal((3, 8, TimeSpan.FromMilliseconds(250)), (s.Threads, s.ReadsPerWakeup, s.BlockingBudget));
    }

    [Theory]
    [InlineData("dgram.engine.thread = 2", "dgram.engine.thread", DatagramSocketError.InvalidArgument)]
    [InlineData("dgram.engine.threads = -1", "dgram.engine.threads=-1", DatagramSocketError.OutOfRange)]
    [InlineData("dgram.engine.reads-per-wakeup = 0", "dgram.engine.reads-per-wakeup=0", DatagramSocketError.OutOfRange)]
    [InlineData("dgram.engine.blocking-budget = 1ms", "dgram.engine.blocking-budget=", DatagramSocketError.OutOfRange)]
    public void BadSection_IsRefused_NamingTheKey(string hocon, string named, DatagramSocketError error)
    {
        var e = Assert.Throws<DatagramSocketException>(() => EngineSettings.From(ConfigurationFactory.ParseString(hocon)));
        Assert.Equal(error, e.Error);
        Assert.Contains(named, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASocketStartingOnAnEngineWithAnUnknownKey_FailsAtOnce_WithTheKey()
    {
        LabNet.Require();
        using var system = ActorSystem.Create("engine-typo", "dgram.engine.treads = 2\nakka.loglevel = OFF\nakka.stdout-loglevel = OFF");
        var settings = new SocketSettings { Name = "typo", Family = AddressFamily.InterNetwork, LocalEndPoint = new IPEndPoint(IPAddress.Loopback, LabNet.NextPort()) };
        var e = await Assert.ThrowsAnyAsync<Exception>(() => SocketClient.StartAsync(system, settings, TimeSpan.FromSeconds(10)));
        Assert.Contains("dgram.engine.treads", e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Configuration_DedicatedReadThread_IsRead_AndDefaultsToShared()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Dgram:feed:Family"] = "IPv4",
            ["Dgram:feed:DedicatedReadThread"] = "true",
            ["Dgram:other:Family"] = "IPv4",
        }).Build();
        var sockets = SocketConfiguration.ReadAll(config.GetSection("Dgram"));
        Assert.True(sockets.Single(s => s.Name == "feed").DedicatedReadThread);
        Assert.False(sockets.Single(s => s.Name == "other").DedicatedReadThread);
    }
}
