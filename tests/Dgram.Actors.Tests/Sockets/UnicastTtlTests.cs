using System.Net;
using System.Net.Sockets;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>
/// The unicast TTL / hop limit (IP_TTL / IPV6_UNICAST_HOPS): the setter returns the previous value, getsockopt
/// agrees, bad values change nothing, and a receiver reading IP_RECVTTL / IPV6_RECVHOPLIMIT sees it on real
/// datagrams, as it sees a per-datagram TTL sent as a control message. One body, IPv4 and IPv6.
/// </summary>
public abstract class UnicastTtlTests : SocketTestBase
{
    private const int IP_TTL = 2, IPV6_UNICAST_HOPS = 16;
    private const int SystemDefault = 64; // net.ipv4.ip_default_ttl and the IPv6 hop limit of a fresh namespace
    private readonly LabFamily _f;

    protected UnicastTtlTests(LabFamily family)
    {
        LabNet.Require();
        _f = family;
    }

    private int Level => _f.IsV6 ? RawSockOpt.IPPROTO_IPV6 : RawSockOpt.IPPROTO_IP;
    private int Option => _f.IsV6 ? IPV6_UNICAST_HOPS : IP_TTL;

    /// <summary>A sender on lab0b and the receiver's unicast address: the datagram crosses no router, so its TTL arrives as sent.</summary>
    private (DatagramSocket Tx, DatagramSocket Rx, IPEndPoint To) Pair()
    {
        var rx = Receiver(_f, out int port);
        var tx = Create(_f.Family);
        tx.Bind(new IPEndPoint(_f.Tx0Sources[0], 0));
        return (tx, rx, new IPEndPoint(_f.Rx0Address, port));
    }

    private static int Arrived(DatagramSocket rx, string expected)
    {
        var (text, _, r) = Next(rx);
        Assert.Equal(expected, text);
        return r.HopLimit;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(255)]
    public void SetUnicastTtl_ReturnsPreviousValue_AndKernelReadsNewValue(int ttl)
    {
        var s = Create(_f.Family);
        Assert.Equal(SystemDefault, s.GetUnicastTtl());
        Assert.Equal(SystemDefault, s.SetUnicastTtl(ttl));
        Assert.Equal(ttl, RawSockOpt.GetInt(s.SafeHandle, Level, Option));
        Assert.Equal(ttl, s.GetUnicastTtl());
        Assert.Equal(ttl, s.SetUnicastTtl(9));
        Assert.Equal(1, s.GetMulticastTtl()); // the multicast TTL is another option
    }

    [Fact]
    public void SetUnicastTtl_MinusOne_FollowsTheSystemDefaultAgain()
    {
        var s = Create(_f.Family);
        s.SetUnicastTtl(9);
        Assert.Equal(9, s.SetUnicastTtl(-1));
        Assert.Equal(SystemDefault, RawSockOpt.GetInt(s.SafeHandle, Level, Option));
    }

    [Fact]
    public void SetUnicastTtl_OutOfRange_FailsAndChangesNothing()
    {
        var s = Create(_f.Family);
        s.SetUnicastTtl(9);
        foreach (int bad in new[] { 0, 256, -2, 1000 })
        {
            var e = Assert.Throws<DatagramSocketException>(() => s.SetUnicastTtl(bad));
            Assert.Equal((DatagramSocketError.OutOfRange, "SetUnicastTtl", bad.ToString()), (e.Error, e.Operation, e.Arguments));
            Assert.Equal(9, RawSockOpt.GetInt(s.SafeHandle, Level, Option));
        }
        AssertStillWorks(s, _f);
    }

    [Fact]
    public void SetUnicastTtl_IsTheTtlTheReceiverSees()
    {
        var (tx, rx, to) = Pair();
        Send(tx, to.Address, to.Port, "default");
        Assert.Equal(SystemDefault, Arrived(rx, "default"));
        foreach (int ttl in new[] { 5, 1, 200 })
        {
            tx.SetUnicastTtl(ttl);
            Send(tx, to.Address, to.Port, "ttl" + ttl);
            Assert.Equal(ttl, Arrived(rx, "ttl" + ttl));
        }
    }

    [Fact]
    public void SendTo_WithItsOwnTtl_ArrivesWithIt_AndLeavesTheSocketsTtlAlone()
    {
        var (tx, rx, to) = Pair();
        SendResult sent = tx.SendTo("five"u8, to, Arrival, ttl: 5);
        Assert.Equal(SendStatus.Sent, sent.Status);
        Assert.Equal(5, Arrived(rx, "five"));
        // Nothing was set on the socket: it still follows the system default.
        Assert.Equal(SystemDefault, RawSockOpt.GetInt(tx.SafeHandle, Level, Option));
        Send(tx, to.Address, to.Port, "plain");
        Assert.Equal(SystemDefault, Arrived(rx, "plain"));
    }

    [Fact]
    public void SendTo_WithATtlOutOfRange_SendsNothing()
    {
        var (tx, rx, to) = Pair();
        foreach (int bad in new[] { 0, -1, 256 })
        {
            var e = Assert.Throws<DatagramSocketException>(() => tx.SendTo("bad"u8, to, Arrival, ttl: bad));
            Assert.Equal((DatagramSocketError.OutOfRange, "SendTo"), (e.Error, e.Operation));
        }
        Send(tx, to.Address, to.Port, "marker"); // the next datagram is the marker: nothing went before it
        Assert.Equal(SystemDefault, Arrived(rx, "marker"));
        Assert.Equal(1, tx.Statistics.DatagramsSent);
    }

    [Fact]
    public void UnicastTtl_OnAUnixSocket_IsNotSupported()
    {
        var s = Create(AddressFamily.Unix);
        Assert.Equal(DatagramSocketError.NotSupportedForFamily, Assert.Throws<DatagramSocketException>(() => s.GetUnicastTtl()).Error);
        Assert.Equal(DatagramSocketError.NotSupportedForFamily, Assert.Throws<DatagramSocketException>(() => s.SetUnicastTtl(5)).Error);
    }
}

[Trait("Area", "Kernel")]
public sealed class UnicastTtlTestsV4() : UnicastTtlTests(LabFamily.V4);

[Trait("Area", "Kernel")]
public sealed class UnicastTtlTestsV6() : UnicastTtlTests(LabFamily.V6);

/// <summary>
/// A dual-mode IPv6 socket sends to an IPv4 destination (IPv4-mapped) through the kernel's IPv4 path, which reads
/// IP_TTL, not IPV6_UNICAST_HOPS or an IPV6_HOPLIMIT control message: both TTLs must still arrive.
/// </summary>
[Trait("Area", "SocketCore")]
public sealed class UnicastTtlDualModeTests : SocketTestBase
{
    public UnicastTtlDualModeTests() => LabNet.Require();

    [Fact]
    public void DualModeSocket_ToAnIPv4Destination_SendsTheSocketsTtl_AndAPerDatagramTtl()
    {
        var f = LabFamily.V4;
        var rx = Receiver(f, out int port);
        var tx = Create(AddressFamily.InterNetworkV6, new DatagramSocketOptions { DualMode = true });
        tx.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
        var to = new IPEndPoint(f.Rx0Address, port);

        tx.SetUnicastTtl(7);
        Assert.Equal(SendStatus.Sent, tx.SendTo("seven"u8, to, Arrival).Status);
        Assert.Equal(SendStatus.Sent, tx.SendTo("five"u8, to, Arrival, ttl: 5).Status);

        var (first, _, r1) = Next(rx);
        var (second, _, r2) = Next(rx);
        Assert.Equal(("seven", 7, "five", 5), (first, r1.HopLimit, second, r2.HopLimit));
    }
}
