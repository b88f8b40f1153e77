using System.Net;
using System.Net.Sockets;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>IPv6 scope: link-scoped groups (ff02::, ff12::, ff32::) and fe80:: sources with a scope id.</summary>
[Trait("Area", "Kernel")]
public sealed class LinkScopeTests : SocketTestBase
{
    private readonly LabFamily _f = LabFamily.V6;

    public LinkScopeTests() => LabNet.Require();

    private static IPAddress LinkGroup(string prefix) => IPAddress.Parse($"{prefix}::d9a:{LabNet.NextGroupNumber():x}");

    [Theory]
    [InlineData("ff02")]
    [InlineData("ff12")]
    public void JoinGroup_LinkScopedGroup_ListedOnInterface_AndTrafficFromLinkLocalSourceArrives(string prefix)
    {
        IPAddress group = LinkGroup(prefix);
        var rx = Receiver(_f, out int port);
        rx.JoinGroup(group, LabNet.Rx0);
        Assert.Contains(group, KernelTables.Igmp6Groups(LabNet.Index(LabNet.Rx0)));

        IPAddress source = LabNet.LinkLocal(LabNet.Tx0); // fe80::…%lab0b
        var tx = Sender(_f, source, LabNet.Tx0);
        Send(tx, group, port, "link-scope");
        var got = Next(rx);
        Assert.Equal("link-scope", got.Text);
        Assert.True(got.Source.Address.IsIPv6LinkLocal);
        Assert.Equal(LabNet.Index(LabNet.Rx0), (int)got.Source.Address.ScopeId); // scope = the arrival interface
        Assert.True(got.Result.DestinationEquals(group));

        rx.LeaveGroup(group, LabNet.Rx0);
        Assert.DoesNotContain(group, KernelTables.Igmp6Groups(LabNet.Index(LabNet.Rx0)));
    }

    [Fact]
    public void JoinGroup_ScopeIdInGroupAddress_NamesTheInterface()
    {
        IPAddress group = LinkGroup("ff02");
        var scoped = new IPAddress(group.GetAddressBytes(), LabNet.Index(LabNet.Rx1));
        var rx = Receiver(_f, out _);
        rx.JoinGroup(scoped);
        Assert.Contains(group, KernelTables.Igmp6Groups(LabNet.Index(LabNet.Rx1)));
        Assert.DoesNotContain(group, KernelTables.Igmp6Groups(LabNet.Index(LabNet.Rx0)));
        rx.LeaveGroup(scoped);
        Assert.DoesNotContain(group, KernelTables.Igmp6Groups(LabNet.Index(LabNet.Rx1)));
    }

    [Fact]
    public void JoinSourceGroup_LinkScopedSsmGroup_WithLinkLocalSource_OnlyThatSourceArrives()
    {
        IPAddress group = LinkGroup("ff32");
        IPAddress senderAddress = LabNet.LinkLocal(LabNet.Tx0);
        // The same fe80 address seen from the receiving link carries the receiving interface as scope.
        var source = new IPAddress(senderAddress.GetAddressBytes(), LabNet.Index(LabNet.Rx0));
        var rx = Receiver(_f, out int port);
        rx.JoinSourceGroup(group, source, LabNet.Rx0);
        var row = KernelTables.SourceFilter(_f, LabNet.Index(LabNet.Rx0), group, source);
        Assert.NotNull(row);
        Assert.Equal(1, row!.Include);

        var other = Sender(_f, _f.Tx0Sources[1], LabNet.Tx0);
        var linkLocal = Sender(_f, senderAddress, LabNet.Tx0);
        Send(other, group, port, "from-global");
        Send(linkLocal, group, port, "from-link-local");
        var got = Next(rx);
        Assert.Equal("from-link-local", got.Text);
        Assert.Equal(source, got.Source.Address);
    }

    [Fact]
    public void SendTo_LinkScopedGroupWithScopeId_LeavesThroughThatInterface()
    {
        IPAddress group = LinkGroup("ff02");
        var rx = Receiver(_f, out int port);
        rx.JoinGroup(group, LabNet.Rx1);
        var tx = Create(AddressFamily.InterNetworkV6);
        tx.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
        // No IPV6_MULTICAST_IF: the destination's scope id picks lab1b.
        Send(tx, new IPAddress(group.GetAddressBytes(), LabNet.Index(LabNet.Tx1)), port, "scoped-destination");
        var got = Next(rx);
        Assert.Equal("scoped-destination", got.Text);
        Assert.Equal(LabNet.Index(LabNet.Rx1), got.Result.InterfaceIndex);
    }
}
