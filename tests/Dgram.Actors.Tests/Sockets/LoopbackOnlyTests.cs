using System.Net;
using System.Net.Sockets;
using System.Text;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>
/// What works on <c>lo</c> alone (the README's "What works where"): IPv4 any-source and source-specific
/// multicast joined on lo and sent out of it arrive; IPv6 multicast out of lo is refused by the kernel with
/// ENETUNREACH (the join itself succeeds), so IPv6 multicast needs a real or veth interface.
/// </summary>
[Trait("Area", "SocketCore")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LoopbackOnlyTests : SocketTestBase
{
    [Fact]
    public void IPv4_AnySourceOnLo_Arrives()
    {
        IPAddress group = LabFamily.V4.NewGroup();
        int port = LabNet.NextPort();
        DatagramSocket rx = Create(AddressFamily.InterNetwork);
        rx.Bind(new IPEndPoint(group, port));
        rx.JoinGroup(group, "lo");
        DatagramSocket tx = Create(AddressFamily.InterNetwork);
        tx.SetMulticastInterface("lo");

        Send(tx, group, port, "asm-on-lo");

        Assert.Equal("asm-on-lo", Next(rx).Text);
    }

    [Fact]
    public void IPv4_SourceSpecificOnLo_Arrives()
    {
        IPAddress group = LabFamily.V4.NewSsmGroup();
        int port = LabNet.NextPort();
        DatagramSocket rx = Create(AddressFamily.InterNetwork);
        rx.Bind(new IPEndPoint(group, port));
        rx.JoinSourceGroup(group, IPAddress.Loopback, "lo");
        DatagramSocket tx = Create(AddressFamily.InterNetwork);
        tx.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        tx.SetMulticastInterface("lo");

        Send(tx, group, port, "ssm-on-lo");

        (string text, IPEndPoint source, _) = Next(rx);
        Assert.Equal(("ssm-on-lo", IPAddress.Loopback), (text, source.Address));
    }

    [Fact]
    public void IPv6_MulticastOutOfLo_IsUnreachable()
    {
        IPAddress group = LabFamily.V6.NewGroup();
        int port = LabNet.NextPort();
        DatagramSocket rx = Create(AddressFamily.InterNetworkV6);
        rx.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
        rx.JoinGroup(group, "lo"); // the kernel takes the join...
        DatagramSocket tx = Create(AddressFamily.InterNetworkV6);
        tx.SetMulticastInterface("lo");

        SendResult sent = tx.SendTo(Encoding.UTF8.GetBytes("v6-on-lo"), new IPEndPoint(group, port), Arrival);

        Assert.Equal((SendStatus.Error, Errno.ENETUNREACH), (sent.Status, sent.Errno)); // ...but routes nothing out of lo
    }
}
