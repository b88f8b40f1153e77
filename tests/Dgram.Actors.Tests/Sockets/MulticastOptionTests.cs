using System.Net;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>
/// mcastloop, mcastttl, mcastif: each setter returns the previous value, getsockopt agrees, and real
/// datagrams show the effect. One body, run for IPv4 and IPv6 by the subclasses below.
/// </summary>
public abstract class MulticastOptionTests : SocketTestBase
{
    private readonly LabFamily _f;

    protected MulticastOptionTests(LabFamily family)
    {
        LabNet.Require();
        _f = family;
    }

    private int LoopOption => _f.IsV6 ? RawSockOpt.IPV6_MULTICAST_LOOP : RawSockOpt.IP_MULTICAST_LOOP;
    private int TtlOption => _f.IsV6 ? RawSockOpt.IPV6_MULTICAST_HOPS : RawSockOpt.IP_MULTICAST_TTL;
    private int Level => _f.IsV6 ? RawSockOpt.IPPROTO_IPV6 : RawSockOpt.IPPROTO_IP;

    [Fact]
    public void SetMulticastLoop_ReturnsPreviousValue_AndKernelReadsNewValue()
    {
        var s = Create(_f.Family);
        Assert.True(s.GetMulticastLoop()); // Linux default
        Assert.True(s.SetMulticastLoop(false));
        Assert.Equal(0, RawSockOpt.GetInt(s.SafeHandle, Level, LoopOption));
        Assert.False(s.GetMulticastLoop());
        Assert.False(s.SetMulticastLoop(true));
        Assert.Equal(1, RawSockOpt.GetInt(s.SafeHandle, Level, LoopOption));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(64)]
    [InlineData(255)]
    public void SetMulticastTtl_ReturnsPreviousValue_AndKernelReadsNewValue(int ttl)
    {
        var s = Create(_f.Family);
        Assert.Equal(1, s.GetMulticastTtl()); // Linux default for both families
        Assert.Equal(1, s.SetMulticastTtl(ttl));
        Assert.Equal(ttl, RawSockOpt.GetInt(s.SafeHandle, Level, TtlOption));
        Assert.Equal(ttl, s.SetMulticastTtl(7));
    }

    [Fact]
    public void SetMulticastTtl_OutOfRange_FailsAndChangesNothing()
    {
        var s = Create(_f.Family);
        s.SetMulticastTtl(9);
        foreach (int bad in new[] { 256, -2, 1000 })
        {
            var e = Assert.Throws<DatagramSocketException>(() => s.SetMulticastTtl(bad));
            Assert.Equal(DatagramSocketError.OutOfRange, e.Error);
            Assert.Equal("SetMulticastTtl", e.Operation);
            Assert.Equal(9, RawSockOpt.GetInt(s.SafeHandle, Level, TtlOption));
        }
        AssertStillWorks(s, _f);
    }

    [Fact]
    public void SetMulticastTtl_MinusOne_IsTheKernelDefault_ForBothFamilies()
    {
        var s = Create(_f.Family);
        s.SetMulticastTtl(9);
        Assert.Equal(9, s.SetMulticastTtl(-1));
        Assert.Equal(1, RawSockOpt.GetInt(s.SafeHandle, Level, TtlOption));
    }

    [Fact]
    public void SetMulticastTtl_IsTheTtlTheReceiverSees()
    {
        IPAddress group = _f.NewGroup();
        var rx = Receiver(_f, out int port);
        rx.JoinGroup(group, LabNet.Rx0);
        var tx = Sender(_f, _f.Tx0Sources[0], LabNet.Tx0);
        foreach (int ttl in new[] { 7, 1, 200 })
        {
            tx.SetMulticastTtl(ttl);
            Send(tx, group, port, "ttl" + ttl);
            var (text, _, r) = Next(rx);
            Assert.Equal("ttl" + ttl, text);
            Assert.Equal(ttl, r.HopLimit); // IP_RECVTTL / IPV6_RECVHOPLIMIT; a veth does not decrement it
        }
    }

    [Fact]
    public void GetMulticastInterface_Unset_IsNull()
    {
        var s = Create(_f.Family);
        Assert.Null(s.GetMulticastInterface());
    }

    [Fact]
    public void SetMulticastInterface_ReturnsPreviousName_AndClearingRestoresDefault()
    {
        var s = Create(_f.Family);
        Assert.Null(s.SetMulticastInterface(LabNet.Tx0));
        Assert.Equal(LabNet.Tx0, s.GetMulticastInterface());
        Assert.Equal(LabNet.Tx0, s.SetMulticastInterface(LabNet.Tx1));
        Assert.Equal(LabNet.Tx1, s.SetMulticastInterface((string?)null));
        Assert.Null(s.GetMulticastInterface());
        if (_f.IsV6)
        {
            // IPv6 reads the index back from the kernel.
            s.SetMulticastInterface(LabNet.Tx1);
            Assert.Equal(LabNet.Index(LabNet.Tx1), RawSockOpt.GetInt(s.SafeHandle, Level, RawSockOpt.IPV6_MULTICAST_IF));
        }
        Assert.Equal(_f.IsV6 ? LabNet.Tx1 : null, s.SetMulticastInterface(LabNet.Index(LabNet.Tx0)));
        Assert.Equal(LabNet.Tx0, s.GetMulticastInterface());
    }

    [Fact]
    public void SetMulticastInterface_DecidesWhichInterfaceTheDatagramLeaves()
    {
        IPAddress group = _f.NewGroup();
        var rx = Receiver(_f, out int port);
        rx.JoinGroup(group, LabNet.Rx0);
        rx.JoinGroup(group, LabNet.Rx1);
        var tx = Create(_f.Family);
        tx.Bind(new IPEndPoint(_f.Any, 0)); // source chosen by the outgoing interface

        tx.SetMulticastInterface(LabNet.Tx0);
        Send(tx, group, port, "via0");
        var a = Next(rx);
        Assert.Equal("via0", a.Text);
        Assert.Equal(LabNet.Index(LabNet.Rx0), a.Result.InterfaceIndex);

        tx.SetMulticastInterface(LabNet.Tx1);
        Send(tx, group, port, "via1");
        var b = Next(rx);
        Assert.Equal("via1", b.Text);
        Assert.Equal(LabNet.Index(LabNet.Rx1), b.Result.InterfaceIndex);
        Assert.Contains(b.Source.Address, _f.Tx1Sources);
    }

    [Fact]
    public void SetMulticastInterface_UnknownName_FailsWithEnodev_AndChangesNothing()
    {
        var s = Create(_f.Family);
        s.SetMulticastInterface(LabNet.Tx0);
        var e = Assert.Throws<DatagramSocketException>(() => s.SetMulticastInterface("nosuch0"));
        Assert.Equal(DatagramSocketError.UnknownInterface, e.Error);
        Assert.Equal("ENODEV", e.ErrorName);
        Assert.Equal(LabNet.Tx0, s.GetMulticastInterface());
        var tooLong = Assert.Throws<DatagramSocketException>(() => s.SetMulticastInterface("a-name-longer-than-15"));
        Assert.Equal(DatagramSocketError.InvalidInterfaceName, tooLong.Error);
        AssertStillWorks(s, _f);
    }

    [Fact]
    public void MulticastLoop_DecidesTheLocalCopyOnTheSendingInterface()
    {
        // A joins on the sending interface itself (lab0b); B on its veth peer (lab0a), so lab0a accepts the group.
        IPAddress group = _f.NewGroup();
        var a = Receiver(_f, out int portA);
        a.JoinGroup(group, LabNet.Tx0);
        var b = Receiver(_f, out int portB);
        b.JoinGroup(group, LabNet.Rx0);
        var tx = Sender(_f, _f.Tx0Sources[0], LabNet.Tx0);
        var marker = Create(_f.Family);
        int sendingIf = LabNet.Index(LabNet.Tx0), peerIf = LabNet.Index(LabNet.Rx0);

        Assert.True(tx.SetMulticastLoop(false));
        Send(tx, group, portB, "to-b");
        Assert.Equal(peerIf, Next(b).Result.InterfaceIndex); // the copy across the veth is always sent
        Send(tx, group, portA, "off");
        Send(marker, _f.Loopback, portA, "marker-1");
        var off = Until(a, "marker-1");
        Assert.DoesNotContain(off, d => d.IfIndex == sendingIf); // no local copy with loop off
        // IPv4 filters by interface: nothing. IPv6 delivers the veth copy whatever interface A joined on.
        Assert.Equal(_f.InterfaceBlindDelivery ? [("off", peerIf)] : new List<(string, int)>(), off);

        Assert.False(tx.SetMulticastLoop(true));
        Send(tx, group, portA, "on");
        Send(marker, _f.Loopback, portA, "marker-2");
        var on = Until(a, "marker-2").OrderBy(d => d.IfIndex == sendingIf).ToList();
        Assert.Equal(_f.InterfaceBlindDelivery ? [("on", peerIf), ("on", sendingIf)] : new List<(string, int)> { ("on", sendingIf) }, on);
    }

    /// <summary>Every datagram before the one with text <paramref name="marker"/>, with its arrival interface.</summary>
    private static List<(string Text, int IfIndex)> Until(DatagramSocket s, string marker)
    {
        var seen = new List<(string, int)>();
        while (true)
        {
            var (text, _, r) = Next(s);
            if (text == marker) return seen;
            seen.Add((text, r.InterfaceIndex));
        }
    }
}

[Trait("Area", "Kernel")]
public sealed class MulticastOptionTestsV4() : MulticastOptionTests(LabFamily.V4);

[Trait("Area", "Kernel")]
public sealed class MulticastOptionTestsV6() : MulticastOptionTests(LabFamily.V6);
