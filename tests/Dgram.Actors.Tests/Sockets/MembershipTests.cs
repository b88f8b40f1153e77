using System.Net;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>
/// mcastjoin/leave, mcastjoinsrc/leavesrc, mcastblocksrc/unblocksrc: /proc/net/igmp(6) and
/// mcfilter(6) show each change on the right interface, and real datagrams show the filter holds.
/// "Nothing arrived" is proven with a marker sent after the filtered datagram down the same path:
/// the marker must be the next datagram, so no test waits for silence.
/// </summary>
public abstract class MembershipTests : SocketTestBase
{
    private readonly LabFamily _f;
    private readonly int _rx0;

    protected MembershipTests(LabFamily family)
    {
        LabNet.Require();
        _f = family;
        _rx0 = LabNet.Index(LabNet.Rx0);
    }

    [Fact]
    public void JoinGroup_ListsMembershipOnNamedInterface_LeaveGroupRemovesIt()
    {
        IPAddress group = _f.NewGroup();
        var s = Receiver(_f, out _);
        Assert.DoesNotContain(group, KernelTables.Groups(_f, _rx0));
        s.JoinGroup(group, LabNet.Rx0);
        Assert.Contains(group, KernelTables.Groups(_f, _rx0));
        Assert.DoesNotContain(group, KernelTables.Groups(_f, LabNet.Index(LabNet.Rx1)));
        s.LeaveGroup(group, LabNet.Rx0);
        Assert.DoesNotContain(group, KernelTables.Groups(_f, _rx0));
    }

    [Fact]
    public void JoinGroup_TrafficArrives_LeaveGroupStopsIt()
    {
        IPAddress group = _f.NewGroup(), other = _f.NewGroup();
        var rx = Receiver(_f, out int port);
        var tx = Sender(_f, _f.Tx0Sources[0], LabNet.Tx0);
        rx.JoinGroup(other, LabNet.Rx0); // carries the marker

        Send(tx, group, port, "before-join");
        Send(tx, other, port, "marker-1");
        Assert.Equal("marker-1", Next(rx).Text);

        rx.JoinGroup(group, LabNet.Rx0);
        Send(tx, group, port, "joined");
        var joined = Next(rx);
        Assert.Equal("joined", joined.Text);
        Assert.Equal(_f.Tx0Sources[0], joined.Source.Address);
        Assert.True(joined.Result.DestinationEquals(group));
        Assert.Equal(_rx0, joined.Result.InterfaceIndex);

        rx.LeaveGroup(group, LabNet.Rx0);
        Send(tx, group, port, "after-leave");
        Send(tx, other, port, "marker-2");
        Assert.Equal("marker-2", Next(rx).Text);
    }

    [Fact]
    public void JoinSourceGroup_ListsIncludeFilter_AndOnlyTheJoinedSourceArrives()
    {
        IPAddress group = _f.NewSsmGroup();
        IPAddress s1 = _f.Tx0Sources[1], s2 = _f.Tx0Sources[2];
        var rx = Receiver(_f, out int port);
        rx.JoinSourceGroup(group, s1, LabNet.Rx0);

        var include = KernelTables.SourceFilter(_f, _rx0, group, s1);
        Assert.NotNull(include);
        Assert.Equal((1, 0), (include!.Include, include.Exclude));
        Assert.Null(KernelTables.SourceFilter(_f, _rx0, group, s2));
        Assert.Contains(group, KernelTables.Groups(_f, _rx0));

        var tx1 = Sender(_f, s1, LabNet.Tx0);
        var tx2 = Sender(_f, s2, LabNet.Tx0);
        Send(tx2, group, port, "from-s2");
        Send(tx1, group, port, "from-s1");
        var got = Next(rx);
        Assert.Equal(("from-s1", s1), (got.Text, got.Source.Address));

        rx.LeaveSourceGroup(group, s1, LabNet.Rx0);
        Assert.Null(KernelTables.SourceFilter(_f, _rx0, group, s1));
        Assert.DoesNotContain(group, KernelTables.Groups(_f, _rx0)); // the last source took the membership
    }

    [Fact]
    public void JoinSourceGroup_TwoSources_BothArrive_LeavingOneKeepsTheOther()
    {
        IPAddress group = _f.NewSsmGroup();
        IPAddress s1 = _f.Tx0Sources[1], s2 = _f.Tx0Sources[2];
        var rx = Receiver(_f, out int port);
        rx.JoinSourceGroup(group, s1, LabNet.Rx0);
        rx.JoinSourceGroup(group, s2, LabNet.Rx0);
        var tx1 = Sender(_f, s1, LabNet.Tx0);
        var tx2 = Sender(_f, s2, LabNet.Tx0);
        Send(tx2, group, port, "s2");
        Assert.Equal(s2, Next(rx).Source.Address);

        rx.LeaveSourceGroup(group, s2, LabNet.Rx0);
        Assert.Null(KernelTables.SourceFilter(_f, _rx0, group, s2));
        Assert.NotNull(KernelTables.SourceFilter(_f, _rx0, group, s1));
        Send(tx2, group, port, "s2-left");
        Send(tx1, group, port, "s1");
        Assert.Equal(("s1", s1), (Next(rx) is var n ? (n.Text, n.Source.Address) : default));
    }

    [Fact]
    public void BlockSource_ListsExcludeFilter_FiltersThatSource_UnblockRestoresIt()
    {
        IPAddress group = _f.NewGroup();
        IPAddress s1 = _f.Tx0Sources[1], s2 = _f.Tx0Sources[2];
        var rx = Receiver(_f, out int port);
        rx.JoinGroup(group, LabNet.Rx0);
        rx.BlockSource(group, s2, LabNet.Rx0);

        var exclude = KernelTables.SourceFilter(_f, _rx0, group, s2);
        Assert.NotNull(exclude);
        Assert.Equal((0, 1), (exclude!.Include, exclude.Exclude));

        var tx1 = Sender(_f, s1, LabNet.Tx0);
        var tx2 = Sender(_f, s2, LabNet.Tx0);
        Send(tx2, group, port, "blocked");
        Send(tx1, group, port, "allowed");
        Assert.Equal(("allowed", s1), (Next(rx) is var a ? (a.Text, a.Source.Address) : default));

        rx.UnblockSource(group, s2, LabNet.Rx0);
        Assert.Null(KernelTables.SourceFilter(_f, _rx0, group, s2));
        Send(tx2, group, port, "unblocked");
        Assert.Equal(("unblocked", s2), (Next(rx) is var u ? (u.Text, u.Source.Address) : default));
    }

    [Fact]
    public void JoinGroup_KeepsGroupsApart_OnTwoSocketsSharingAPort()
    {
        // Linux's default (IP_MULTICAST_ALL=1) would hand each socket the other's group.
        IPAddress g1 = _f.NewGroup(), g2 = _f.NewGroup();
        int port = LabNet.NextPort();
        var r1 = Receiver(_f, out _, reuse: AddressReuse.ReuseAddress, atPort: port);
        var r2 = Receiver(_f, out _, reuse: AddressReuse.ReuseAddress, atPort: port);
        r1.JoinGroup(g1, LabNet.Rx0);
        r2.JoinGroup(g2, LabNet.Rx0);
        var tx = Sender(_f, _f.Tx0Sources[0], LabNet.Tx0);
        Send(tx, g2, port, "for-r2");
        Send(tx, g1, port, "for-r1");
        Assert.Equal("for-r1", Next(r1).Text);
        Assert.Equal("for-r2", Next(r2).Text);
        Assert.False(HasQueued(r2));
    }

    [Fact]
    public void KernelMulticastAll_Opted_In_ReceivesGroupsOtherSocketsJoined()
    {
        IPAddress g1 = _f.NewGroup(), g2 = _f.NewGroup();
        int port = LabNet.NextPort();
        var all = Receiver(_f, out _, new DatagramSocketOptions { KernelMulticastAll = true }, AddressReuse.ReuseAddress, port);
        var r2 = Receiver(_f, out _, reuse: AddressReuse.ReuseAddress, atPort: port);
        all.JoinGroup(g1, LabNet.Rx0);
        r2.JoinGroup(g2, LabNet.Rx0);
        var tx = Sender(_f, _f.Tx0Sources[0], LabNet.Tx0);
        Send(tx, g2, port, "joined-by-r2");
        Assert.Equal("joined-by-r2", Next(all).Text);
    }

    public static TheoryData<bool, bool> FilterKinds => new() { { true, true }, { true, false }, { false, true }, { false, false } };

    /// <summary>
    /// Two sockets on one port, one filtering (block, or source-specific) and one any-source, bound in
    /// both orders: each gets exactly what its filter allows. With SO_REUSEPORT IPv4 leaks (LAB-FACTS);
    /// the library shares ports with SO_REUSEADDR alone.
    /// </summary>
    [Theory]
    [MemberData(nameof(FilterKinds))]
    public void SharedPort_FilteringAndAnySourceSockets_EachGetExactlyWhatTheirFilterAllows(bool sourceSpecific, bool filteringBoundFirst)
    {
        IPAddress group = sourceSpecific ? _f.NewSsmGroup() : _f.NewGroup();
        IPAddress good = _f.Tx0Sources[1], bad = _f.Tx0Sources[2];
        int port = LabNet.NextPort();
        DatagramSocket filtering, anySource;
        if (filteringBoundFirst)
        {
            filtering = Receiver(_f, out _, reuse: AddressReuse.ReuseAddress, atPort: port);
            anySource = Receiver(_f, out _, reuse: AddressReuse.ReuseAddress, atPort: port);
        }
        else
        {
            anySource = Receiver(_f, out _, reuse: AddressReuse.ReuseAddress, atPort: port);
            filtering = Receiver(_f, out _, reuse: AddressReuse.ReuseAddress, atPort: port);
        }
        Assert.Equal(1, RawSockOpt.GetInt(filtering.SafeHandle, RawSockOpt.SOL_SOCKET, RawSockOpt.SO_REUSEADDR));
        Assert.Equal(0, RawSockOpt.GetInt(filtering.SafeHandle, RawSockOpt.SOL_SOCKET, RawSockOpt.SO_REUSEPORT));
        if (sourceSpecific)
        {
            filtering.JoinSourceGroup(group, good, LabNet.Rx0);
        }
        else
        {
            filtering.JoinGroup(group, LabNet.Rx0);
            filtering.BlockSource(group, bad, LabNet.Rx0);
        }
        anySource.JoinGroup(group, LabNet.Rx0);

        var txGood = Sender(_f, good, LabNet.Tx0);
        var txBad = Sender(_f, bad, LabNet.Tx0);
        const int n = 50;
        for (int i = 0; i < n; i++)
        {
            Send(txBad, group, port, "bad" + i);
            Send(txGood, group, port, "good" + i);
        }
        Send(txGood, group, port, "end");

        var toFiltering = Drain(filtering);
        var toAnySource = Drain(anySource);
        Assert.Equal(Enumerable.Range(0, n).Select(i => "good" + i), toFiltering);
        Assert.Equal(Enumerable.Range(0, n).SelectMany(i => new[] { "bad" + i, "good" + i }), toAnySource);
    }

    /// <summary>Every datagram before "end".</summary>
    private static List<string> Drain(DatagramSocket s)
    {
        var got = new List<string>();
        for (string t = Next(s).Text; t != "end"; t = Next(s).Text) got.Add(t);
        return got;
    }

    [Fact]
    public void FilterByJoinedInterface_DropsAndCountsDatagramsFromOtherInterfaces()
    {
        // Y's join on lab1a makes lab1a accept the group; X and "filtered" joined only on lab0a.
        IPAddress group = _f.NewGroup();
        var x = Receiver(_f, out int port, reuse: AddressReuse.ReuseAddress);
        var filtered = Receiver(_f, out _, new DatagramSocketOptions { FilterByJoinedInterface = true }, AddressReuse.ReuseAddress, atPort: port);
        x.JoinGroup(group, LabNet.Rx0);
        filtered.JoinGroup(group, LabNet.Rx0);
        var y = Receiver(_f, out _);
        y.JoinGroup(group, LabNet.Rx1);
        var tx1 = Sender(_f, _f.Tx1Sources[0], LabNet.Tx1);
        var tx0 = Sender(_f, _f.Tx0Sources[0], LabNet.Tx0);

        Send(tx1, group, port, "via-lab1");
        Send(tx0, group, port, "via-lab0");
        // Without the filter IPv6 delivers the lab1a datagram to x anyway; IPv4 (MULTICAST_ALL=0) does not.
        string first = Next(x).Text;
        Assert.Equal(_f.InterfaceBlindDelivery ? "via-lab1" : "via-lab0", first);
        var got = Next(filtered);
        Assert.Equal("via-lab0", got.Text);
        Assert.Equal(_rx0, got.Result.InterfaceIndex);
        Assert.Equal(_f.InterfaceBlindDelivery ? 1 : 0, filtered.Statistics.FilteredByInterface);

        // The batch path filters the same way.
        Send(tx1, group, port, "via-lab1-again");
        Send(tx0, group, port, "via-lab0-again");
        using var batch = new DatagramBatch(8);
        Assert.Equal(ReceiveStatus.Received, filtered.ReceiveBatch(batch, Arrival).Status);
        Assert.Equal("via-lab0-again", System.Text.Encoding.UTF8.GetString(batch.Payload(0)));
        Assert.Equal(_f.InterfaceBlindDelivery ? 2 : 0, filtered.Statistics.FilteredByInterface);
    }

    [Fact]
    public void JoinGroup_UnknownInterface_FailsWithEnodev_ChangesNothing_SocketStillWorks()
    {
        IPAddress group = _f.NewGroup();
        var s = Receiver(_f, out _);
        var e = Assert.Throws<DatagramSocketException>(() => s.JoinGroup(group, "nosuch0"));
        Assert.Equal(DatagramSocketError.UnknownInterface, e.Error);
        Assert.Equal("ENODEV", e.ErrorName);
        Assert.Equal("JoinGroup", e.Operation);
        Assert.Contains("nosuch0", e.Message);
        Assert.Empty(s.GetMemberships());
        AssertStillWorks(s, _f);
    }

    [Fact]
    public void JoinGroup_BadInput_FailsClearly_ChangesNothing_SocketStillWorks()
    {
        var s = Receiver(_f, out _);
        IPAddress wrongFamily = _f.IsV6 ? IPAddress.Parse("239.255.9.9") : IPAddress.Parse("ff15::9");
        IPAddress unicast = _f.Tx0Sources[0];
        Assert.Equal(DatagramSocketError.FamilyMismatch, Assert.Throws<DatagramSocketException>(() => s.JoinGroup(wrongFamily, LabNet.Rx0)).Error);
        Assert.Equal(DatagramSocketError.NotMulticast, Assert.Throws<DatagramSocketException>(() => s.JoinGroup(unicast, LabNet.Rx0)).Error);
        Assert.Equal(DatagramSocketError.InvalidArgument, Assert.Throws<DatagramSocketException>(() => s.JoinGroup(null!, LabNet.Rx0)).Error);
        Assert.Equal(DatagramSocketError.InvalidInterfaceName, Assert.Throws<DatagramSocketException>(() => s.JoinGroup(_f.NewGroup(), "sixteen-chars-xx")).Error);
        IPAddress group = _f.NewSsmGroup();
        Assert.Equal(DatagramSocketError.InvalidArgument, Assert.Throws<DatagramSocketException>(() => s.JoinSourceGroup(group, group, LabNet.Rx0)).Error);
        Assert.Equal(DatagramSocketError.FamilyMismatch,
            Assert.Throws<DatagramSocketException>(() => s.JoinSourceGroup(group, _f.IsV6 ? IPAddress.Parse("198.51.100.2") : IPAddress.Parse("fd00:d9a::2"), LabNet.Rx0)).Error);
        Assert.DoesNotContain(KernelTables.SourceFilters(_f), r => r.Group.Equals(group));
        Assert.Empty(s.GetMemberships());
        AssertStillWorks(s, _f);
    }

    [Fact]
    public void JoinGroup_Twice_FailsWithEaddrinuse_AndTheMembershipStays()
    {
        IPAddress group = _f.NewGroup();
        var s = Receiver(_f, out _);
        s.JoinGroup(group, LabNet.Rx0);
        var e = Assert.Throws<DatagramSocketException>(() => s.JoinGroup(group, LabNet.Rx0));
        Assert.Equal(DatagramSocketError.Kernel, e.Error);
        Assert.Equal("EADDRINUSE", e.ErrorName);
        Assert.Contains(group, KernelTables.Groups(_f, _rx0));
        AssertStillWorks(s, _f);
    }

    [Fact]
    public void LeaveGroup_NeverJoined_FailsWithEaddrnotavail_SocketStillWorks()
    {
        var s = Receiver(_f, out _);
        var e = Assert.Throws<DatagramSocketException>(() => s.LeaveGroup(_f.NewGroup(), LabNet.Rx0));
        Assert.Equal("EADDRNOTAVAIL", e.ErrorName);
        Assert.Equal("LeaveGroup", e.Operation);
        // A source change needs a prior join: the kernel says EINVAL without one...
        IPAddress group = _f.NewGroup();
        var noJoin = Assert.Throws<DatagramSocketException>(() => s.UnblockSource(group, _f.Tx0Sources[1], LabNet.Rx0));
        Assert.Equal("EINVAL", noJoin.ErrorName);
        Assert.Contains("join first", noJoin.Message);
        // ...and EADDRNOTAVAIL for a source that was never blocked.
        s.JoinGroup(group, LabNet.Rx0);
        var notBlocked = Assert.Throws<DatagramSocketException>(() => s.UnblockSource(group, _f.Tx0Sources[1], LabNet.Rx0));
        Assert.Equal("EADDRNOTAVAIL", notBlocked.ErrorName);
        Assert.Contains(group, KernelTables.Groups(_f, _rx0));
        AssertStillWorks(s, _f);
    }

    [Fact]
    public void BlockSource_OnSourceSpecificMembership_FailsWithKernelErrno_AndTheIncludeFilterStays()
    {
        IPAddress group = _f.NewSsmGroup();
        var s = Receiver(_f, out _);
        s.JoinSourceGroup(group, _f.Tx0Sources[1], LabNet.Rx0);
        var e = Assert.Throws<DatagramSocketException>(() => s.BlockSource(group, _f.Tx0Sources[2], LabNet.Rx0));
        Assert.Equal(DatagramSocketError.Kernel, e.Error);
        Assert.NotEqual(0, e.Errno);
        Assert.NotNull(KernelTables.SourceFilter(_f, _rx0, group, _f.Tx0Sources[1]));
        Assert.Null(KernelTables.SourceFilter(_f, _rx0, group, _f.Tx0Sources[2]));
        AssertStillWorks(s, _f);
    }

    [Fact]
    public void JoinGroup_OnUnicastBoundSocket_LogsAWarning()
    {
        var log = new CapturingLogger();
        var s = Create(_f.Family, new DatagramSocketOptions { Logger = log });
        s.Bind(new IPEndPoint(_f.Rx0Address, LabNet.NextPort()));
        s.JoinGroup(_f.NewGroup(), LabNet.Rx0);
        Assert.Contains(log.Entries, e => e.Id.Id == 1002 && e.Message.Contains("receives no group traffic"));
    }

    [Fact]
    public void JoinGroup_OnGroupBoundSocket_ReceivesWithoutWarning()
    {
        var log = new CapturingLogger();
        IPAddress group = _f.NewGroup();
        int port = LabNet.NextPort();
        var s = Create(_f.Family, new DatagramSocketOptions { Logger = log });
        s.Bind(new IPEndPoint(group, port));
        s.JoinGroup(group, LabNet.Rx0);
        var tx = Sender(_f, _f.Tx0Sources[0], LabNet.Tx0);
        Send(tx, group, port, "to-group-bound");
        Assert.Equal("to-group-bound", Next(s).Text);
        Assert.Empty(log.Entries);
    }
}

[Trait("Area", "Kernel")]
public sealed class MembershipTestsV4() : MembershipTests(LabFamily.V4);

[Trait("Area", "Kernel")]
public sealed class MembershipTestsV6() : MembershipTests(LabFamily.V6);
