using System.Net;
using System.Net.Sockets;
using Dgram.Actors.Sockets;
using Xunit;

namespace Dgram.Actors.Tests.Lab;

/// <summary>
/// The multi-site lab the cluster bridge will be tested in (issue 16, item 9), proven with real datagrams: a
/// site's segment carries a group between its hosts; the WAN carries unicast between sites and no multicast (a
/// unicast marker sent after the group's datagram is the first thing the other site's receiver gets).
/// </summary>
[Trait("Area", "Lab")]
public sealed class LabSitesTests : SocketTestBase
{
    public LabSitesTests() => LabNet.Require();

    [Fact]
    public void TwoSites_TheSegmentCarriesAGroup_TheWanOnlyUnicast()
    {
        using var siteA = new LabSite();
        using var siteB = new LabSite();
        LabWan.Connect(siteA, siteB);
        using LabHost publisher = siteA.AddHost();
        IPAddress group = LabFamily.V4.NewGroup();
        int port = LabNet.NextPort();

        DatagramSocket Receiver(LabSite site) => Own(site.In(() =>
        {
            var s = DatagramSocket.Create(AddressFamily.InterNetwork);
            s.Bind(new IPEndPoint(IPAddress.Any, port));
            s.JoinGroup(group, site.Bridge);
            return s;
        }));
        DatagramSocket atA = Receiver(siteA), atB = Receiver(siteB);
        DatagramSocket tx = Own(publisher.In(() =>
        {
            var s = DatagramSocket.Create(AddressFamily.InterNetwork);
            s.Bind(new IPEndPoint(publisher.Address, 0));
            s.SetMulticastInterface(publisher.Interface);
            s.SetMulticastTtl(8); // enough to cross a router, were one forwarding multicast
            return s;
        }));

        Send(tx, group, port, "group");
        Send(tx, siteB.Router, port, "marker"); // unicast, routed over the WAN

        var (text, source, _) = Next(atA);
        Assert.Equal(("group", publisher.Address), (text, source.Address));
        (text, source, _) = Next(atB);
        Assert.Equal(("marker", publisher.Address), (text, source.Address)); // the group's datagram never crossed
    }
}
