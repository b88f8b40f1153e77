using Akka.Hosting;
using Dgram.Actors.Tests.Lab;
using Dgram.Cluster;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Cluster;

/// <summary>
/// <c>WithDgramBridge</c> in a host (issue 16, item 8): settings are checked when the host is configured, and a start
/// that cannot succeed (no Akka.Cluster) fails the host's start with one clear error instead of running without a bridge.
/// </summary>
[Trait("Area", "Cluster")]
public sealed class BridgeHostingTests(ITestOutputHelper output)
{
    private static Dictionary<string, string?> Settings() => new()
    {
        ["Bridge:Site"] = "a",
        ["Bridge:Interface"] = "lab0a",
        ["Bridge:Peers:b:0"] = "akka.tcp://dgram@203.0.113.34:4053",
        ["Bridge:Groups:0:Name"] = "g",
        ["Bridge:Groups:0:Group"] = "239.255.16.9",
        ["Bridge:Groups:0:Port"] = "5099",
    };

    private IHost Build(Dictionary<string, string?> settings) =>
        Host.CreateDefaultBuilder()
            .ConfigureLogging(l => l.LogToTestOutput(output))
            .ConfigureAppConfiguration(c => c.Sources.Clear())
            .ConfigureAppConfiguration(c => c.AddInMemoryCollection(settings))
            .ConfigureServices((context, services) => services.AddAkka("bridge-host-" + LabNet.NextPort(), (akka, _) =>
                akka.LogToTestOutput(output).WithDgramBridge(context.Configuration.GetSection("Bridge"))))
            .Build();

    [Fact]
    public async Task WithoutAkkaCluster_TheHostsStartFails_NamingWhatIsMissing()
    {
        using IHost host = Build(Settings());
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());
        Assert.Contains("WithDgramBridge: the actor system must use Akka.Cluster", e.Message);
    }

    [Fact]
    public void ABadSetting_FailsWhenTheHostIsConfigured()
    {
        var settings = Settings();
        settings["Bridge:Groups:0:Prot"] = "5099";
        var e = Assert.Throws<Dgram.Actors.Hosting.DgramConfigurationException>(() => Build(settings).Services.GetRequiredService<Akka.Actor.ActorSystem>());
        Assert.Equal("Bridge:Groups:0:Prot: unknown key; did you mean 'Port'?", e.Message);
    }
}
