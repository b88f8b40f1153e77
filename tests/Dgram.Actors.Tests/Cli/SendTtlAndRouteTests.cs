using System.Net;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Cli;

/// <summary>
/// <c>dgram send</c>: <c>--ttl</c> is the TTL a unicast datagram arrives with too, and a send the kernel refuses with
/// ENETUNREACH (the lab, like a fresh namespace, has no default route) says what is missing and what to do.
/// </summary>
public sealed partial class CliTests
{
    [Theory]
    [MemberData(nameof(Families))]
    public void Send_ttl_applies_to_unicast_destinations(string family)
    {
        LabFamily f = Family(family);
        using DatagramSocket receiver = DatagramSocket.Create(f.Family, new DatagramSocketOptions { ReceiveMetadata = ReceiveMetadata.HopLimit });
        int port = LabNet.NextPort();
        receiver.Bind(new IPEndPoint(f.Rx0Address, port));

        Send(f.Rx0Address.ToString(), "--port", Str(port), "--source", f.Tx0Sources[0].ToString(), "--ttl", "5", "unicast ttl 5");
        Send(f.Rx0Address.ToString(), "--port", Str(port), "--source", f.Tx0Sources[0].ToString(), "no ttl");

        (string text, _, ReceiveResult r) = Next(receiver);
        Assert.Equal(("unicast ttl 5", 5), (text, r.HopLimit));
        (text, _, r) = Next(receiver);
        Assert.Equal(("no ttl", 64), (text, r.HopLimit)); // the system default
    }

    [Fact]
    public void Send_unicast_ttl_0_is_bad_input()
    {
        string port = Str(LabNet.NextPort());
        DgramProcess dgram = Dgram("send", LabFamily.V4.Rx0Address.ToString(), "--port", port, "--ttl", "0", "x");
        Assert.True(dgram.WaitForExit() == 2, dgram.Describe());
        string line = Assert.Single(dgram.Errors);
        Assert.Equal("dgram: 0 is out of range for SetUnicastTtl: a unicast TTL is 1 to 255, or -1 for the system default", line);
    }

    [Fact]
    public void Send_to_a_group_without_a_route_names_iface_as_the_way_out()
    {
        // IPv4 only: the kernel gives every IPv6 interface an ff00::/8 route (lo alone has none, and fails the same way).
        const string group = "239.255.77.9";
        int port = LabNet.NextPort();
        DgramProcess dgram = Dgram("send", group, "--port", Str(port), "x");
        Assert.True(dgram.WaitForExit() == 1, dgram.Describe());
        string line = Assert.Single(dgram.Errors);
        Assert.Equal($"dgram: send 1 of 1 to {new IPEndPoint(IPAddress.Parse(group), port)} failed: ENETUNREACH: "
            + $"there is no route to {group}; name the interface to send by with --iface (interfaces: 'dgram info')", line);
    }

    [Fact]
    public void Send_to_an_unrouted_unicast_address_says_there_is_no_route()
    {
        // fd00:d9a:77::/64 is inside the lab's prefix but on no interface, so no route leads there.
        DgramProcess dgram = Dgram("send", "fd00:d9a:77::77", "--port", Str(LabNet.NextPort()), "x");
        Assert.True(dgram.WaitForExit() == 1, dgram.Describe());
        string line = Assert.Single(dgram.Errors);
        Assert.Contains("failed: ENETUNREACH: there is no route to fd00:d9a:77::77 ('ip route' shows the routes", line);
    }
}
