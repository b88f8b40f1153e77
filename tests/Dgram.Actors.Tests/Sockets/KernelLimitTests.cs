using System.Net;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>
/// Per-socket kernel limits at their defaults (LAB-FACTS): IPv4 20 groups (igmp_max_memberships) and
/// 10 sources per group (igmp_max_msf); IPv6 64 sources per group (mld_max_msf). The error names the
/// knob, the kernel tables show nothing changed, and the socket keeps working.
/// </summary>
[Trait("Area", "Kernel")]
public sealed class KernelLimitTests : SocketTestBase
{
    public KernelLimitTests() => LabNet.Require();

    [Fact]
    public void JoinGroup_IPv4_21stGroup_FailsWithEnobufsNamingIgmpMaxMemberships()
    {
        var f = LabFamily.V4;
        var s = Receiver(f, out _);
        var groups = Enumerable.Range(0, 21).Select(_ => f.NewGroup()).ToArray();
        foreach (IPAddress g in groups[..20]) s.JoinGroup(g, LabNet.Rx0);
        var e = Assert.Throws<DatagramSocketException>(() => s.JoinGroup(groups[20], LabNet.Rx0));
        Assert.Equal("ENOBUFS", e.ErrorName);
        Assert.Contains("net.ipv4.igmp_max_memberships = 20", e.Message);
        int rx0 = LabNet.Index(LabNet.Rx0);
        Assert.DoesNotContain(groups[20], KernelTables.IgmpGroups(rx0));
        Assert.Contains(groups[19], KernelTables.IgmpGroups(rx0));
        s.LeaveGroup(groups[0], LabNet.Rx0);
        s.JoinGroup(groups[20], LabNet.Rx0); // a freed slot is usable
        Assert.Contains(groups[20], KernelTables.IgmpGroups(rx0));
        AssertStillWorks(s, f);
    }

    public static TheoryData<bool, bool, int, string> SourceLimits => new()
    {
        // v6, block (else source-specific join), the limit, the knob
        { false, false, 10, "net.ipv4.igmp_max_msf = 10" },
        { false, true, 10, "net.ipv4.igmp_max_msf = 10" },
        { true, false, 64, "net.ipv6.mld_max_msf = 64" },
        { true, true, 64, "net.ipv6.mld_max_msf = 64" },
    };

    [Theory]
    [MemberData(nameof(SourceLimits))]
    public void SourceFilter_OneSourcePastTheLimit_FailsWithEnobufsNamingTheKnob(bool v6, bool block, int limit, string knob)
    {
        var f = v6 ? LabFamily.V6 : LabFamily.V4;
        var s = Receiver(f, out _);
        IPAddress group = block ? f.NewGroup() : f.NewSsmGroup();
        if (block) s.JoinGroup(group, LabNet.Rx0);
        // Sources need not exist: the filter is bookkeeping until a datagram comes.
        IPAddress Source(int i) => v6 ? IPAddress.Parse($"fd00:d9a:7::{i + 1:x}") : IPAddress.Parse($"203.0.113.{100 + i}");
        void Add(int i)
        {
            if (block) s.BlockSource(group, Source(i), LabNet.Rx0);
            else s.JoinSourceGroup(group, Source(i), LabNet.Rx0);
        }
        for (int i = 0; i < limit; i++) Add(i);
        var e = Assert.Throws<DatagramSocketException>(() => Add(limit));
        Assert.Equal("ENOBUFS", e.ErrorName);
        Assert.Contains(knob, e.Message);
        var rows = KernelTables.SourceFilters(f).Where(r => r.Group.Equals(group) && r.InterfaceIndex == LabNet.Index(LabNet.Rx0)).ToList();
        Assert.Equal(limit, rows.Count);
        Assert.DoesNotContain(rows, r => r.Source.Equals(Source(limit)));
        AssertStillWorks(s, f);
    }
}
