using System.Net;
using System.Net.Sockets;
using Akka.Hosting;
using Dgram.Actors.Hosting;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Hosting;

/// <summary>
/// Configuration is strict: an unknown key, a list written as a value, Sources with Block, a name that
/// cannot name an actor, duplicates, a multicast source, two sockets on one port and more groups or
/// sources than the live kernel limits allow are each one <see cref="DgramConfigurationException"/>
/// naming the full key, before any socket exists.
/// </summary>
[Trait("Area", "Hosting")]
public sealed class StrictConfigurationTests
{
    private const string Root = "Dgram:Sockets";

    private readonly ITestOutputHelper _output;

    public StrictConfigurationTests(ITestOutputHelper output)
    {
        LabNet.Require();
        _output = output;
    }

    private static IReadOnlyList<Protocol.SocketSettings> ReadAll(Dictionary<string, string?> settings) =>
        SocketConfiguration.ReadAll(new ConfigurationBuilder().AddInMemoryCollection(settings).Build().GetSection(Root));

    private static DgramConfigurationException Refused(Dictionary<string, string?> settings) =>
        Assert.Throws<DgramConfigurationException>(() => ReadAll(settings));

    /// <summary>A valid IPv4 receiver named <paramref name="name"/> with one source-specific group on lab0a.</summary>
    private static Dictionary<string, string?> Receiver(string name = "md", int? port = null) => new()
    {
        [$"{Root}:{name}:Family"] = "IPv4",
        [$"{Root}:{name}:Bind"] = $"0.0.0.0:{port ?? LabNet.NextPort()}",
        [$"{Root}:{name}:Groups:0:Group"] = LabFamily.V4.NewSsmGroup().ToString(),
        [$"{Root}:{name}:Groups:0:Interface"] = LabNet.Rx0,
        [$"{Root}:{name}:Groups:0:Sources:0"] = "198.51.100.3",
    };

    [Fact]
    public async Task Host_SourceTypo_DoesNotStart_NamesTheKeyAndSuggestsSources_JoinsNothing()
    {
        // Measured on 4e0c2fb: "Source" was ignored, the join became any-source and an unlisted source got through.
        IPAddress group = LabFamily.V4.NewSsmGroup();
        var settings = Receiver();
        settings[$"{Root}:md:Groups:0:Group"] = group.ToString();
        settings.Remove($"{Root}:md:Groups:0:Sources:0");
        settings[$"{Root}:md:Groups:0:Source:0"] = "198.51.100.3";
        using IHost host = Host.CreateDefaultBuilder()
            .ConfigureLogging(l => l.LogToTestOutput(_output)) // the host logs its failed start; the exception is what the test reads
            .ConfigureAppConfiguration(c => c.Sources.Clear())
            .ConfigureAppConfiguration(c => c.AddInMemoryCollection(settings))
            .ConfigureServices((context, services) => services.AddAkka("dgram-strict-" + LabNet.NextPort(), (akka, _) =>
                akka.LogToTestOutput(_output).WithDgramSockets(context.Configuration.GetSection(Root))))
            .Build();

        var e = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());

        var config = e as DgramConfigurationException ?? Assert.IsType<DgramConfigurationException>(e.GetBaseException());
        Assert.Equal($"{Root}:md:Groups:0:Source", config.Setting);
        Assert.Contains("did you mean 'Sources'?", config.Message);
        Assert.DoesNotContain(group, KernelTables.IgmpGroups(LabNet.Index(LabNet.Rx0)));
    }

    public static TheoryData<string, string, string> UnknownKeys => new()
    {
        // the key written (under Dgram:Sockets:md), the key reported, what the message says
        { "Tll", "Tll", "unknown key; did you mean 'Ttl'?" },
        { "ReuseAdress", "ReuseAdress", "unknown key; did you mean 'ReuseAddress'?" },
        { "Groups:0:Blok:0", "Groups:0:Blok", "unknown key; did you mean 'Block'?" },
        { "Groups:0:Intreface", "Groups:0:Intreface", "unknown key; did you mean 'Interface'?" },
        { "Port", "Port", "unknown key; the keys here are Family, " }, // nothing near: every valid key is listed
        { "Groups:0:Sources:0:Address", "Groups:0:Sources:0", "expected a value, found a section" },
        { "Groups:0:Sources:first", "Groups:0:Sources:first", "'first' is not a list index" },
        { "Ttl:Value", "Ttl", "expected a value, found a section (keys: Value)" },
    };

    [Theory]
    [MemberData(nameof(UnknownKeys))]
    public void ReadAll_UnknownKey_NamesItsFullPathAndTheNearestValidKey(string key, string reported, string problem)
    {
        var settings = Receiver();
        settings[$"{Root}:md:{key}"] = "3";

        var e = Refused(settings);

        Assert.Equal($"{Root}:md:{reported}", e.Setting);
        Assert.StartsWith($"{e.Setting}: {problem}", e.Message);
    }

    [Fact]
    public void ReadAll_ListWrittenAsOneValue_IsRefused_NotReadAsAnEmptyList()
    {
        // "Sources": "198.51.100.3" (no brackets) used to read as no sources: an any-source join.
        var settings = Receiver();
        settings.Remove($"{Root}:md:Groups:0:Sources:0");
        settings[$"{Root}:md:Groups:0:Sources"] = "198.51.100.3";

        var e = Refused(settings);

        Assert.Equal($"{Root}:md:Groups:0:Sources", e.Setting);
        Assert.Contains("expected a list ([ ... ]), found the value '198.51.100.3'", e.Message);
    }

    [Fact]
    public void ReadAll_SourcesWithBlock_IsRefused_NamingBlock()
    {
        var settings = Receiver();
        settings[$"{Root}:md:Groups:0:Block:0"] = "198.51.100.4";

        var e = Refused(settings);

        Assert.Equal($"{Root}:md:Groups:0:Block", e.Setting);
        Assert.Contains("not both", e.Message);
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("$x")]
    [InlineData("rx one")]
    public void ReadAll_SocketNameThatCannotNameAnActor_IsAConfigurationError(string name)
    {
        var e = Refused(Receiver(name));

        Assert.Equal($"{Root}:{name}", e.Setting);
        Assert.Contains("not a valid actor name", e.Message);
    }

    [Fact]
    public void ReadAll_DuplicateGroupOnOneInterface_IsRefused_TheSameGroupOnAnotherInterfaceIsNot()
    {
        var settings = Receiver();
        settings[$"{Root}:md:Groups:1:Group"] = settings[$"{Root}:md:Groups:0:Group"];
        settings[$"{Root}:md:Groups:1:Interface"] = LabNet.Rx1;
        settings[$"{Root}:md:Groups:1:Sources:0"] = "203.0.113.2";
        Assert.Equal(2, Assert.Single(ReadAll(settings)).Groups.Count);

        settings[$"{Root}:md:Groups:1:Interface"] = LabNet.Rx0;
        var e = Refused(settings);

        Assert.Equal($"{Root}:md:Groups:1", e.Setting);
        Assert.Contains("already entry 0", e.Message);
    }

    [Theory]
    [InlineData("Sources", "198.51.100.3", "198.51.100.3 is already entry 0 of this list")]
    [InlineData("Sources", "232.1.1.1", "232.1.1.1 is a multicast address")]
    [InlineData("Sources", "0.0.0.0", "0.0.0.0 is the unspecified address")]
    [InlineData("Block", "239.255.1.1", "239.255.1.1 is a multicast address")]
    public void ReadAll_BadSecondSource_IsRefused_NamingItsEntry(string list, string second, string problem)
    {
        var settings = Receiver();
        if (list == "Block")
        {
            settings.Remove($"{Root}:md:Groups:0:Sources:0");
            settings[$"{Root}:md:Groups:0:Block:0"] = "198.51.100.4";
        }
        settings[$"{Root}:md:Groups:0:{list}:1"] = second;

        var e = Refused(settings);

        Assert.Equal($"{Root}:md:Groups:0:{list}:1: {problem}", e.Message);
    }

    [Fact]
    public void ReadAll_MoreGroupsThanIgmpMaxMemberships_IsRefused_NamingTheSysctlAndItsLiveValue()
    {
        int limit = KernelTables.Sysctl("net.ipv4.igmp_max_memberships", 20); // 20 in a fresh namespace
        var settings = Receiver();
        for (int i = 1; i < limit; i++)
        {
            settings[$"{Root}:md:Groups:{i}:Group"] = LabFamily.V4.NewGroup().ToString();
            settings[$"{Root}:md:Groups:{i}:Interface"] = LabNet.Rx0;
        }
        Assert.Equal(limit, Assert.Single(ReadAll(settings)).Groups.Count); // exactly the limit fits

        settings[$"{Root}:md:Groups:{limit}:Group"] = LabFamily.V4.NewGroup().ToString();
        var e = Refused(settings);

        Assert.Equal($"{Root}:md:Groups:{limit}", e.Setting);
        Assert.Contains($"{limit + 1} groups on one IPv4 socket", e.Message);
        Assert.Contains($"net.ipv4.igmp_max_memberships={limit}", e.Message);
    }

    [Theory]
    [InlineData("Sources")]
    [InlineData("Block")]
    public void ReadAll_MoreSourcesThanIgmpMaxMsf_IsRefused_NamingTheSysctlAndItsLiveValue(string list)
    {
        int limit = KernelTables.Sysctl("net.ipv4.igmp_max_msf", 10); // 10 in a fresh namespace
        var settings = Receiver();
        settings.Remove($"{Root}:md:Groups:0:Sources:0");
        for (int i = 0; i <= limit; i++) settings[$"{Root}:md:Groups:0:{list}:{i}"] = $"203.0.113.{100 + i}";

        var e = Refused(settings);

        Assert.Equal($"{Root}:md:Groups:0:{list}:{limit}", e.Setting);
        Assert.Contains($"net.ipv4.igmp_max_msf={limit}", e.Message);
        settings.Remove($"{Root}:md:Groups:0:{list}:{limit}");
        Protocol.GroupSettings fits = Assert.Single(Assert.Single(ReadAll(settings)).Groups); // exactly the limit fits
        Assert.Equal(limit, (list == "Block" ? fits.BlockedSources : fits.Sources)!.Count);
    }

    [Fact]
    public void ReadAll_IPv6_SourcesPastMldMaxMsf_AreRefused_GroupsHaveNoInventedLimit()
    {
        var settings = new Dictionary<string, string?>
        {
            [$"{Root}:md6:Family"] = "IPv6",
            [$"{Root}:md6:Bind"] = $"[::]:{LabNet.NextPort()}",
        };
        for (int i = 0; i < 30; i++) settings[$"{Root}:md6:Groups:{i}:Group"] = LabFamily.V6.NewGroup().ToString();
        Assert.Equal(30, Assert.Single(ReadAll(settings)).Groups.Count); // IPv6 has no per-socket group count

        // mld_max_msf exists only in the initial namespace: the kernel default (64) applies, and the message says so.
        bool readable = File.Exists("/proc/sys/net/ipv6/mld_max_msf");
        int limit = KernelTables.Sysctl("net.ipv6.mld_max_msf", 64);
        for (int i = 0; i <= limit; i++) settings[$"{Root}:md6:Groups:0:Sources:{i}"] = $"fd00:d9a:7::{i + 1:x}";
        var e = Refused(settings);

        Assert.Equal($"{Root}:md6:Groups:0:Sources:{limit}", e.Setting);
        Assert.Contains($"net.ipv6.mld_max_msf={limit}", e.Message);
        if (!readable) Assert.Contains("kernel default", e.Message);
    }

    /// <summary>
    /// Pairs of configured sockets, each bound for real by the kernel too: ReadAll refuses a pair exactly
    /// when the kernel refuses the second bind with EADDRINUSE, and names the second socket's Bind.
    /// </summary>
    [Fact]
    public void ReadAll_TwoSocketsOnOnePort_RefusedExactlyWhenTheKernelRefusesTheSecondBind()
    {
        string dir = Directory.CreateTempSubdirectory("dgram-config-").FullName;
        try
        {
            string? wrong = BindVerdictsDisagree(dir);
            Assert.True(wrong is null, wrong);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string? BindVerdictsDisagree(string dir)
    {
        var cases = new (string Family, string A, bool ReuseA, string B, bool ReuseB)[]
        {
            ("IPv4", "0.0.0.0:{0}", false, "0.0.0.0:{0}", false),
            ("IPv4", "0.0.0.0:{0}", false, "198.51.100.1:{0}", false),
            ("IPv4", "239.255.9.1:{0}", false, "0.0.0.0:{0}", false),
            ("IPv4", "0.0.0.0:{0}", true, "0.0.0.0:{0}", false),
            ("IPv4", "0.0.0.0:{0}", true, "0.0.0.0:{0}", true),
            ("IPv4", "239.255.9.1:{0}", true, "239.255.9.1:{0}", true),
            ("IPv4", "239.255.9.1:{0}", false, "239.255.9.2:{0}", false),
            ("IPv4", "198.51.100.1:{0}", false, "127.0.0.1:{0}", false),
            ("IPv6", "[::]:{0}", false, "[fd00:d9a::1]:{0}", false),
            ("IPv6", "[::]:{0}", true, "[::]:{0}", true),
            ("IPv6", "[ff15::d9a:99]:{0}", false, "[ff15::d9a:98]:{0}", false),
            ("Unix", dir + "/a-{0}.sock", false, dir + "/a-{0}.sock", false),
            ("Unix", dir + "/a-{0}.sock", true, dir + "/a-{0}.sock", true),
            ("Unix", dir + "/a-{0}.sock", false, dir + "/b-{0}.sock", false),
        };
        var wrong = new List<string>();
        foreach (var c in cases)
        {
            int port = LabNet.NextPort();
            string a = string.Format(System.Globalization.CultureInfo.InvariantCulture, c.A, port);
            string b = string.Format(System.Globalization.CultureInfo.InvariantCulture, c.B, port);
            var settings = new Dictionary<string, string?>
            {
                [$"{Root}:a:Family"] = c.Family, [$"{Root}:a:Bind"] = a, [$"{Root}:a:ReuseAddress"] = c.ReuseA.ToString(),
                [$"{Root}:b:Family"] = c.Family, [$"{Root}:b:Bind"] = b, [$"{Root}:b:ReuseAddress"] = c.ReuseB.ToString(),
            };
            IConfigurationSection sockets = new ConfigurationBuilder().AddInMemoryCollection(settings).Build().GetSection(Root);
            bool kernelRefuses = BindProbe.KernelRefusesSecondBind(SocketConfiguration.Read(sockets.GetSection("a")), SocketConfiguration.Read(sockets.GetSection("b")));
            DgramConfigurationException? refused = null;
            try
            {
                Assert.Equal(2, SocketConfiguration.ReadAll(sockets).Count);
            }
            catch (DgramConfigurationException e)
            {
                refused = e;
            }
            string label = $"{c.Family} {a}{(c.ReuseA ? " reuse" : "")} + {b}{(c.ReuseB ? " reuse" : "")}";
            if (kernelRefuses != (refused is not null))
            {
                wrong.Add($"{label}: kernel {(kernelRefuses ? "refuses" : "accepts")}, ReadAll {(refused is null ? "accepts" : "refuses: " + refused.Message)}");
            }
            else if (refused is not null && (refused.Setting != $"{Root}:b:Bind" || !refused.Message.Contains("socket 'a'", StringComparison.Ordinal)))
            {
                wrong.Add($"{label}: the error should name {Root}:b:Bind and socket 'a': {refused.Message}");
            }
        }
        return wrong.Count == 0 ? null : string.Join(Environment.NewLine, wrong);
    }
}
