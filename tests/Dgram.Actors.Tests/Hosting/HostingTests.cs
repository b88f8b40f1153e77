using System.Net;
using Akka.Hosting;
using Dgram.Actors.Hosting;
using Dgram.Actors.Protocol;
using Dgram.Actors.Tests.Lab;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Hosting;

/// <summary>Socket actors in a generic host, configured from IConfiguration; kernel tables checked after stop.</summary>
[Trait("Area", "Hosting")]
public sealed class HostingTests
{
    private readonly ITestOutputHelper _output;

    public HostingTests(ITestOutputHelper output)
    {
        LabNet.Require();
        _output = output;
    }

    private IHost Build(Dictionary<string, string?> settings) => Build(settings, _output);

    /// <summary>A host with the registry and the sockets of <paramref name="settings"/>, logging to the test's output.</summary>
    internal static IHost Build(Dictionary<string, string?> settings, ITestOutputHelper output) =>
        Host.CreateDefaultBuilder()
            .ConfigureLogging(l => l.LogToTestOutput(output)) // a refused configuration is asserted; its log is in the test's output
            .ConfigureAppConfiguration(c => c.Sources.Clear())
            .ConfigureAppConfiguration(c => c.AddInMemoryCollection(settings))
            .ConfigureServices((context, services) =>
            {
                services.AddDgramSocketRegistry();
                services.AddAkka("dgram-host-" + LabNet.NextPort(), (akka, _) =>
                    akka.LogToTestOutput(output).WithDgramSockets(context.Configuration.GetSection("Dgram:Sockets")));
            })
            .Build();

    [Fact]
    public async Task Host_StartsSocketsFromConfiguration_JoinsInKernel_StopLeavesEveryGroup()
    {
        var v4 = LabFamily.V4;
        var v6 = LabFamily.V6;
        IPAddress asm = v4.NewGroup(), ssm = v4.NewSsmGroup(), g6 = v6.NewGroup();
        var host = Build(new()
        {
            ["Dgram:Sockets:rx4:Family"] = "IPv4",
            ["Dgram:Sockets:rx4:Bind"] = $"0.0.0.0:{LabNet.NextPort()}",
            ["Dgram:Sockets:rx4:Ttl"] = "3",
            ["Dgram:Sockets:rx4:Groups:0:Group"] = asm.ToString(),
            ["Dgram:Sockets:rx4:Groups:0:Interface"] = "lab0a",
            ["Dgram:Sockets:rx4:Groups:0:Block:0"] = "198.51.100.4",
            ["Dgram:Sockets:rx4:Groups:1:Group"] = ssm.ToString(),
            ["Dgram:Sockets:rx4:Groups:1:Interface"] = "lab0a",
            ["Dgram:Sockets:rx4:Groups:1:Sources:0"] = "198.51.100.3",
            ["Dgram:Sockets:rx6:Family"] = "IPv6",
            ["Dgram:Sockets:rx6:Bind"] = $"[::]:{LabNet.NextPort()}",
            ["Dgram:Sockets:rx6:Groups:0:Group"] = g6.ToString(),
            ["Dgram:Sockets:rx6:Groups:0:Interface"] = "lab0a",
        });
        await host.StartAsync();
        var registry = host.Services.GetRequiredService<DgramSocketRegistry>();
        Assert.Equal(["rx4", "rx6"], registry.Names.Order());
        int rx0 = LabNet.Index("lab0a");
        SocketState state = await registry.Get("rx4").GetStateAsync();
        Assert.Equal(3, state.MulticastTtl);
        Assert.All(state.Memberships, m => Assert.Equal(MembershipStatus.Active, m.Status));
        Assert.Contains(asm, KernelTables.IgmpGroups(rx0));
        Assert.Equal(1, KernelTables.SourceFilter(v4, rx0, asm, IPAddress.Parse("198.51.100.4"))?.Exclude);
        Assert.Equal(1, KernelTables.SourceFilter(v4, rx0, ssm, IPAddress.Parse("198.51.100.3"))?.Include);
        await registry.Get("rx6").GetStateAsync();
        Assert.Contains(g6, KernelTables.Igmp6Groups(rx0));

        await host.StopAsync(TimeSpan.FromSeconds(10));
        host.Dispose();
        Assert.DoesNotContain(asm, KernelTables.IgmpGroups(rx0));
        Assert.DoesNotContain(ssm, KernelTables.IgmpGroups(rx0));
        Assert.DoesNotContain(g6, KernelTables.Igmp6Groups(rx0));
        Assert.DoesNotContain(KernelTables.McFilter(), r => r.Group.Equals(asm) || r.Group.Equals(ssm));
    }

    public static TheoryData<string, string, string> BadSettings => new()
    {
        { "Groups:0:Group", "232.1.1", "is not an IP address" },
        { "Groups:0:Group", "198.51.100.9", "is not a multicast address" },
        { "Groups:0:Group", "ff15::1", "the socket is InterNetwork" },
        { "Groups:0:Sources:0", "fd00:d9a::2", "the socket is InterNetwork" },
        { "Bind", "0.0.0.0", "is not address:port" },
        { "Family", "IPX", "is not IPv4, IPv6 or Unix" },
        { "Ttl", "many", "is not an integer" },
        { "Ttl", "300", "300: " },
        { "Interface", "a-name-longer-than-fifteen", "1 to 15 bytes" },
        { "ReceiveBufferSize", "0", "0: " },
        { "Groups:0:Interface", "a-name-longer-than-fifteen", "1 to 15 bytes" },
        { "AbsentInterface", "Maybe", "is not Pending or Fail" },
    };

    [Fact]
    public void Settings_TtlMinusOne_IsTheKernelDefault_ForBothFamilies_MinusTwoIsRefused()
    {
        foreach (var family in new[] { System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.AddressFamily.InterNetworkV6 })
        {
            new Dgram.Actors.Protocol.SocketSettings { Name = "ttl", Family = family, MulticastTtl = -1 }.Validate();
            var e = Assert.Throws<Dgram.Actors.Sockets.DatagramSocketException>(() => new Dgram.Actors.Protocol.SocketSettings { Name = "ttl", Family = family, MulticastTtl = -2 }.Validate());
            Assert.Equal(Dgram.Actors.Sockets.DatagramSocketError.OutOfRange, e.Error);
        }
    }

    [Theory]
    [MemberData(nameof(BadSettings))]
    public async Task Host_BadSetting_FailsToStartWithOneMessageNamingTheSetting(string key, string value, string problem)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Dgram:Sockets:bad:Family"] = "IPv4",
            ["Dgram:Sockets:bad:Bind"] = $"0.0.0.0:{LabNet.NextPort()}",
            ["Dgram:Sockets:bad:Groups:0:Group"] = "239.255.200.1",
            ["Dgram:Sockets:bad:Groups:0:Interface"] = "lab0a",
        };
        settings["Dgram:Sockets:bad:" + key] = value;
        using var host = Build(settings);
        var e = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
        var config = e as DgramConfigurationException ?? Assert.IsType<DgramConfigurationException>(e.InnerException ?? e.GetBaseException());
        // The configuration key itself (for a group: at least its Groups:N section).
        Assert.StartsWith("Dgram:Sockets:bad:" + string.Join(':', key.Split(':').Take(2)), config.Setting);
        Assert.DoesNotContain("=", config.Setting); // a configuration key, not a property assignment
        Assert.Contains(problem, config.Message);
    }

    [Fact]
    public async Task Host_AbsentInterface_MembershipPending_MalformedNameStopsTheHost()
    {
        IPAddress g = LabFamily.V4.NewGroup();
        using var host = Build(new()
        {
            ["Dgram:Sockets:pending:Bind"] = $"0.0.0.0:{LabNet.NextPort()}",
            ["Dgram:Sockets:pending:Groups:0:Group"] = g.ToString(),
            ["Dgram:Sockets:pending:Groups:0:Interface"] = "dgabsent9",
        });
        await host.StartAsync();
        var state = await host.Services.GetRequiredService<DgramSocketRegistry>().Get("pending").GetStateAsync();
        Assert.Equal(MembershipStatus.Pending, Assert.Single(state.Memberships).Status);
        await host.StopAsync();

        using var bad = Build(new()
        {
            ["Dgram:Sockets:bad:Bind"] = $"0.0.0.0:{LabNet.NextPort()}",
            ["Dgram:Sockets:bad:Groups:0:Group"] = g.ToString(),
            ["Dgram:Sockets:bad:Groups:0:Interface"] = "a-name-longer-than-fifteen",
        });
        var e = await Assert.ThrowsAnyAsync<Exception>(() => bad.StartAsync());
        Assert.Contains("1 to 15 bytes", (e as DgramConfigurationException ?? e.GetBaseException()).Message);
    }

    [Fact]
    public async Task Host_SocketThatCannotStart_HostStartThrows_NamingTheConfigurationKey()
    {
        int port = LabNet.NextPort();
        using IHost host = Build(new()
        {
            ["Dgram:Sockets:good:Bind"] = $"0.0.0.0:{LabNet.NextPort()}",
            ["Dgram:Sockets:bad:Bind"] = $"198.51.100.252:{port}",
        });

        var e = await Assert.ThrowsAsync<DgramConfigurationException>(() => host.StartAsync().WaitAsync(TimeSpan.FromSeconds(10)));

        Assert.Equal("Dgram:Sockets:bad:Bind", e.Setting);
        Assert.Contains("EADDRNOTAVAIL", e.Message);
        await host.StopAsync();
    }
}
