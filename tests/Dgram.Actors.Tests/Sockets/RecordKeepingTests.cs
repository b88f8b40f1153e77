using System.Net;
using System.Net.Sockets;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>The socket's membership records (what a supervisor replays) agree with the kernel's tables.</summary>
public abstract class RecordKeepingTests : SocketTestBase
{
    private readonly LabFamily _f;

    protected RecordKeepingTests(LabFamily family)
    {
        LabNet.Require();
        _f = family;
    }

    [Fact]
    public void JoinSourceGroup_OnAnySourceMembership_SwitchesToInclude_InKernelAndRecords()
    {
        IPAddress group = _f.NewGroup();
        var s = Receiver(_f, out _);
        s.JoinGroup(group, LabNet.Rx0);
        s.JoinSourceGroup(group, _f.Tx0Sources[1], LabNet.Rx0);
        var row = KernelTables.SourceFilter(_f, LabNet.Index(LabNet.Rx0), group, _f.Tx0Sources[1]);
        Assert.Equal((1, 0), (row!.Include, row.Exclude));
        var m = Assert.Single(s.GetMemberships());
        Assert.Equal(FilterMode.Include, m.Mode);
        Assert.Equal([_f.Tx0Sources[1]], m.Sources);
    }

    [Fact]
    public void Records_FollowJoinBlockUnblockLeave()
    {
        IPAddress group = _f.NewGroup();
        var s = Receiver(_f, out _);
        s.JoinGroup(group, LabNet.Rx0);
        s.BlockSource(group, _f.Tx0Sources[2], LabNet.Rx0);
        var m = Assert.Single(s.GetMemberships());
        Assert.Equal((FilterMode.Exclude, LabNet.Index(LabNet.Rx0)), (m.Mode, m.InterfaceIndex));
        Assert.Equal([_f.Tx0Sources[2]], m.Sources);
        s.UnblockSource(group, _f.Tx0Sources[2], LabNet.Rx0);
        Assert.Empty(Assert.Single(s.GetMemberships()).Sources);
        s.LeaveGroup(group, LabNet.Rx0);
        Assert.Empty(s.GetMemberships());
    }
}

[Trait("Area", "Kernel")]
public sealed class RecordKeepingTestsV4() : RecordKeepingTests(LabFamily.V4);

[Trait("Area", "Kernel")]
public sealed class RecordKeepingTestsV6() : RecordKeepingTests(LabFamily.V6);

[Trait("Area", "Kernel")]
public sealed class RecordKeepingScopeTests : SocketTestBase
{
    public RecordKeepingScopeTests() => LabNet.Require();

    [Fact]
    public void LeaveGroup_ByName_AfterJoinWithScopeId_ClearsTheRecord()
    {
        IPAddress group = IPAddress.Parse($"ff12::d9a:{LabNet.NextGroupNumber():x}");
        var s = Receiver(LabFamily.V6, out _);
        s.JoinGroup(new IPAddress(group.GetAddressBytes(), LabNet.Index(LabNet.Rx0)));
        s.LeaveGroup(group, LabNet.Rx0);
        Assert.DoesNotContain(group, KernelTables.Igmp6Groups(LabNet.Index(LabNet.Rx0)));
        Assert.Empty(s.GetMemberships());
    }

    [Fact]
    public void DualMode_IPv4Sender_GetsHopLimitAndPacketInfo()
    {
        var rx = Create(AddressFamily.InterNetworkV6, new DatagramSocketOptions
        {
            DualMode = true, ReceiveMetadata = ReceiveMetadata.PacketInfo | ReceiveMetadata.HopLimit | ReceiveMetadata.TrafficClass,
        });
        int port = LabNet.NextPort();
        rx.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
        var tx = Create(AddressFamily.InterNetwork);
        tx.SetTrafficClass(0x20);
        Send(tx, IPAddress.Loopback, port, "v4-to-dual");
        var got = Next(rx);
        Assert.Equal("v4-to-dual", got.Text);
        Assert.Equal(64, got.Result.HopLimit);
        Assert.Equal(0x20, got.Result.TrafficClass);
        Assert.Equal(1, got.Result.InterfaceIndex);
        Assert.True(got.Result.DestinationEquals(IPAddress.Loopback));
    }

    [Fact]
    public void ControlBufferSize_OutOfRange_IsRejectedAtCreate()
    {
        var e = Assert.Throws<DatagramSocketException>(() => DatagramSocket.Create(AddressFamily.InterNetwork, new DatagramSocketOptions { ControlBufferSize = 64 << 20 }));
        Assert.Equal(DatagramSocketError.OutOfRange, e.Error);
    }
}
