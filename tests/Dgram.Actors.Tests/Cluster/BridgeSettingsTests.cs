using Dgram.Actors.Hosting;
using Dgram.Cluster;
using Dgram.Cluster.Internal;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace Dgram.Actors.Tests.Cluster;

/// <summary>
/// The bridge's configuration (issue 16, item 8) is as strict as the sockets': a valid section reads into the
/// settings it says; an unknown key (with the nearest valid one), a missing or malformed value, and settings that
/// cannot work are each one <see cref="DgramConfigurationException"/> naming the full key.
/// </summary>
[Trait("Area", "Cluster")]
public sealed class BridgeSettingsTests
{
    private const string Root = "Dgram:Bridge";

    private static Dictionary<string, string?> Valid() => new()
    {
        [$"{Root}:Site"] = "a",
        [$"{Root}:Interface"] = "eth0",
        [$"{Root}:EmitterAddresses:0"] = "203.0.113.18",
        [$"{Root}:EmitterAddresses:1"] = "fd00:d9a:16:1::2",
        [$"{Root}:Peers:b:0"] = "akka.tcp://dgram@203.0.113.34:4053",
        [$"{Root}:Peers:b:1"] = "akka.tcp://dgram@203.0.113.35:4053",
        [$"{Root}:Groups:0:Name"] = "quotes",
        [$"{Root}:Groups:0:Group"] = "232.16.0.1",
        [$"{Root}:Groups:0:Port"] = "5000",
        [$"{Root}:Groups:0:Sources:0"] = "203.0.113.20",
        [$"{Root}:Groups:0:Ttl"] = "4",
        [$"{Root}:Groups:1:Name"] = "disco",
        [$"{Root}:Groups:1:Group"] = "ff15::16:1",
        [$"{Root}:Groups:1:Port"] = "5001",
        [$"{Root}:Groups:1:Emit"] = "false",
        [$"{Root}:AckTimeout"] = "00:00:02",
    };

    private static BridgeSettings Read(Dictionary<string, string?> values) =>
        BridgeConfiguration.Read(new ConfigurationBuilder().AddInMemoryCollection(values).Build().GetSection(Root));

    private static string Refused(Dictionary<string, string?> values, string key, string? value)
    {
        if (value is null) values.Remove(key);
        else values[key] = value;
        return Assert.Throws<DgramConfigurationException>(() => Read(values)).Message;
    }

    [Fact]
    public void AValidSection_ReadsIntoTheSettingsItSays()
    {
        BridgeSettings s = Read(Valid());
        Assert.Equal(("a", "eth0", 2), (s.Site, s.Interface, s.EmitterAddresses.Count));
        Assert.Equal(["akka.tcp://dgram@203.0.113.34:4053", "akka.tcp://dgram@203.0.113.35:4053"], s.Peers["b"]);
        Assert.Equal(("quotes", "232.16.0.1", 5000, "203.0.113.20", 4, true, true), (s.Groups[0].Name, s.Groups[0].Group.ToString(), s.Groups[0].Port, s.Groups[0].Sources.Single().ToString(), s.Groups[0].Ttl, s.Groups[0].Ingress, s.Groups[0].Emit));
        Assert.Equal(("ff15::16:1", true, false, 1), (s.Groups[1].Group.ToString(), s.Groups[1].Ingress, s.Groups[1].Emit, s.Groups[1].Ttl));
        Assert.Equal(TimeSpan.FromSeconds(2), s.AckTimeout);
    }

    [Theory]
    [InlineData("Groups:0:Source:0", "203.0.113.20", "Dgram:Bridge:Groups:0:Source: unknown key; did you mean 'Sources'?")]
    [InlineData("Peer:b:0", "akka.tcp://dgram@h:1", "Dgram:Bridge:Peer: unknown key; did you mean 'Peers'?")]
    [InlineData("Groups:0:Group", "203.0.113.9", "Dgram:Bridge:Groups:0:Group: 203.0.113.9 is not a multicast address")]
    [InlineData("Groups:0:Group", "232.16.0", "Dgram:Bridge:Groups:0:Group: '232.16.0' is not an IP address")]
    [InlineData("Groups:0:Port", "70000", "Dgram:Bridge:Groups:0:Port: 70000 is not a port (1-65535)")]
    [InlineData("Groups:0:Port", "x", "Dgram:Bridge:Groups:0:Port: 'x' is not an integer")]
    [InlineData("Groups:0:Ttl", "0", "Dgram:Bridge:Groups:0:Ttl: 0 is not a TTL (1-255)")]
    [InlineData("Groups:0:Sources:0", "fd00:d9a::9", "Dgram:Bridge:Groups:0:Sources: fd00:d9a::9 is not of the group's family")]
    [InlineData("Groups:1:Name", "quotes", "Dgram:Bridge:Groups:1: the name is used twice")]
    [InlineData("Groups:1:Name", "a b", "Dgram:Bridge:Groups:1:Name: 'a b' is not a name (1-64 letters, digits, '-', '_', '.')")]
    [InlineData("Peers:b:0", "203.0.113.34:4053", "Dgram:Bridge:Peers:b: '203.0.113.34:4053' is not an Akka address (akka.tcp://system@host:port)")]
    [InlineData("Peers:a:0", "akka.tcp://dgram@203.0.113.18:4053", "Dgram:Bridge:Peers:a: a site is not its own peer")]
    [InlineData("Site", null, "Dgram:Bridge:Site: missing")]
    [InlineData("Interface", "a/b", "Dgram:Bridge:Interface: 'a/b' is not an interface name (at most 15 characters, no '/', ':' or spaces)")]
    [InlineData("EmitterAddresses:0", "239.255.0.1", "Dgram:Bridge:EmitterAddresses: 239.255.0.1 is not a unicast address")]
    [InlineData("MaxBatchBytes", "200000", "Dgram:Bridge:MaxBatchBytes: 200000 is outside 65556-120000 (one largest datagram at least, below the remoting frame)")]
    [InlineData("AckTimeout", "soon", "Dgram:Bridge:AckTimeout: 'soon' is not a duration (hh:mm:ss.fff)")]
    [InlineData("Groups:1:Ingress", "false", "Dgram:Bridge:Groups:1: neither Ingress nor Emit: the group does nothing")]
    public void ABadSetting_IsOneErrorNamingItsKey(string key, string? value, string message) =>
        Assert.Equal(message, Refused(Valid(), $"{Root}:{key}", value));

    [Fact]
    public void NoPeers_IsRefused()
    {
        var values = Valid();
        values.Remove($"{Root}:Peers:b:0");
        values.Remove($"{Root}:Peers:b:1");
        Assert.Equal("Dgram:Bridge:Peers: at least one peer site is required", Assert.Throws<DgramConfigurationException>(() => Read(values)).Message);
    }

    [Fact]
    public void AMissingSection_IsRefused() =>
        Assert.Equal("Dgram:Bridge: the bridge's section is missing or empty", Assert.Throws<DgramConfigurationException>(() => Read([])).Message);
}
