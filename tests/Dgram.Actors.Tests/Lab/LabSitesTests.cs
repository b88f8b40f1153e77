using System.Net;
using Dgram.Actors.Sockets;
using Xunit;

namespace Dgram.Actors.Tests.Lab;

/// <summary>
/// The multi-site lab the cluster bridge will be tested in (issue 16, item 9), proven with real datagrams of both
/// families: a site's segment carries a group between its hosts; the WAN carries unicast between sites and no
/// multicast (a unicast marker sent after the group's datagram is the first thing the other side gets).
/// </summary>
[Trait("Area", "Lab")]
public sealed class LabSitesTests : SocketTestBase
{
    public LabSitesTests() => LabNet.Require();

    private static LabFamily Family(string name) => name == "IPv6" ? LabFamily.V6 : LabFamily.V4;

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public void Segment_CarriesAGroup_BetweenTwoHosts(string family)
    {
        LabFamily f = Family(family);
        using var site = new LabSite();
        using LabHost publisher = site.AddHost(), listener = site.AddHost();
        IPAddress group = f.NewGroup();
        int port = LabNet.NextPort();
        DatagramSocket rx = Own(listener.In(() => JoinedReceiver(f, port, group, listener.Interface)));
        DatagramSocket tx = Own(publisher.In(() => LabNet.OpenSender(f, publisher.AddressOf(f), publisher.Interface)));

        Send(tx, group, port, "group");

        var (text, source, _) = Next(rx);
        Assert.Equal(("group", publisher.AddressOf(f)), (text, source.Address));
    }

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public void TwoSites_AHostReachesAHostOfTheOtherSite_BothWays(string family)
    {
        LabFamily f = Family(family);
        using var siteA = new LabSite();
        using var siteB = new LabSite();
        LabWan.Connect(siteA, siteB);
        using LabHost atA = siteA.AddHost();
        using LabHost atB = siteB.AddHost();
        int port = LabNet.NextPort();
        DatagramSocket Bound(LabHost h) => Own(h.In(() =>
        {
            var s = DatagramSocket.Create(f.Family);
            s.Bind(new IPEndPoint(h.AddressOf(f), port));
            return s;
        }));
        DatagramSocket a = Bound(atA), b = Bound(atB);

        Send(a, atB.AddressOf(f), port, "a to b");
        var (text, source, _) = Next(b);
        Assert.Equal(("a to b", atA.AddressOf(f)), (text, source.Address));

        Send(b, atA.AddressOf(f), port, "b to a");
        (text, source, _) = Next(a);
        Assert.Equal(("b to a", atB.AddressOf(f)), (text, source.Address));
    }

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public void TwoSites_TheSegmentCarriesAGroup_TheWanOnlyUnicast(string family)
    {
        LabFamily f = Family(family);
        using var siteA = new LabSite();
        using var siteB = new LabSite();
        LabWan wan = LabWan.Connect(siteA, siteB);
        using LabHost publisher = siteA.AddHost(), listener = siteA.AddHost();
        using LabHost remote = siteB.AddHost();
        IPAddress group = f.NewGroup();
        int port = LabNet.NextPort();

        DatagramSocket atA = Own(listener.In(() => JoinedReceiver(f, port, group, listener.Interface)));
        // Site B listens where a forwarded group would arrive (its WAN end) and where a forwarding site B would
        // send it on (a host of its segment).
        DatagramSocket wanEndB = Own(siteB.In(() => JoinedReceiver(f, port, group, wan.EndB)));
        DatagramSocket atB = Own(remote.In(() => JoinedReceiver(f, port, group, remote.Interface)));
        DatagramSocket tx = Own(publisher.In(() =>
        {
            DatagramSocket s = LabNet.OpenSender(f, publisher.AddressOf(f), publisher.Interface);
            s.SetMulticastTtl(8); // enough to cross routers, were one forwarding multicast
            return s;
        }));

        Send(tx, group, port, "group");
        // Unicast markers routed over the WAN after it, on the path a forwarded copy would take.
        Send(tx, wan.AddressBOf(f), port, "marker");
        Send(tx, remote.AddressOf(f), port, "marker");

        var (text, source, _) = Next(atA);
        Assert.Equal(("group", publisher.AddressOf(f)), (text, source.Address));
        (text, source, _) = Next(wanEndB);
        Assert.Equal(("marker", publisher.AddressOf(f)), (text, source.Address)); // the group's datagram never crossed
        (text, source, _) = Next(atB);
        Assert.Equal(("marker", publisher.AddressOf(f)), (text, source.Address));
    }

    /// <summary>A receiver on the wildcard and <paramref name="port"/>, joined to <paramref name="group"/> on <paramref name="ifname"/>: call it inside a namespace.</summary>
    private static DatagramSocket JoinedReceiver(LabFamily f, int port, IPAddress group, string ifname)
    {
        var s = DatagramSocket.Create(f.Family);
        try
        {
            s.Bind(new IPEndPoint(f.Any, port));
            s.JoinGroup(group, ifname);
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }
}
