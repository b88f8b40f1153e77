using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Xunit;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>
/// Public records that hold collections print their items, not the collection's type name, through one shared
/// PrintMembers (<see cref="RecordText"/>); everything else prints as the compiler prints it.
/// </summary>
[Trait("Area", "SocketCore")]
public sealed class RecordTextTests
{
    private static readonly IPAddress Group = IPAddress.Parse("232.1.1.1"), S3 = IPAddress.Parse("198.51.100.3"), S4 = IPAddress.Parse("198.51.100.4");

    [Fact]
    public void Membership_PrintsItsSources()
    {
        var m = new Membership(Group, 7, "lab0a", FilterMode.Include, [S3, S4]);
        Assert.Equal("Membership { Group = 232.1.1.1, InterfaceIndex = 7, InterfaceName = lab0a, Mode = Include, Sources = [198.51.100.3, 198.51.100.4] }",
            m.ToString());
    }

    [Fact]
    public void GroupSettings_PrintsItsLists_AndANullListAsTheCompilerDoes()
    {
        var g = new GroupSettings(Group, null, Sources: [S3]);
        Assert.Equal("GroupSettings { Group = 232.1.1.1, InterfaceName = , Sources = [198.51.100.3], BlockedSources =  }", g.ToString());
        Assert.Contains("BlockedSources = []", new GroupSettings(Group, "lab0a", [], []).ToString());
    }

    [Fact]
    public void SocketSettings_PrintsItsGroups_WithTheirSources()
    {
        var s = new SocketSettings
        {
            Name = "md", Family = AddressFamily.InterNetwork, LocalEndPoint = new IPEndPoint(IPAddress.Any, 5000),
            Groups = [new GroupSettings(Group, "lab0a", [S3, S4]), new GroupSettings(IPAddress.Parse("239.255.0.1"), null, BlockedSources: [S4])],
        };
        string text = s.ToString();
        Assert.StartsWith("SocketSettings { Name = md, Family = InterNetwork, LocalEndPoint = 0.0.0.0:5000, ", text);
        Assert.Contains("SocketOptions = DatagramSocketOptions { DualMode = False, KernelMulticastAll = False, ReceiveMetadata = PacketInfo, HopLimit, QueueOverflow, ", text);
        Assert.Contains("Groups = [GroupSettings { Group = 232.1.1.1, InterfaceName = lab0a, Sources = [198.51.100.3, 198.51.100.4], BlockedSources =  }, "
            + "GroupSettings { Group = 239.255.0.1, InterfaceName = , Sources = , BlockedSources = [198.51.100.4] }]", text);
        AssertEveryPropertyPrinted(s, text);
    }

    [Fact]
    public void SocketStateAndStatusEvents_PrintTheirMemberships()
    {
        var m = new Membership(Group, 7, "lab0a", FilterMode.Include, [S3]);
        var counters = new SocketCounters(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
        var state = new SocketState("md", null, true, 1, 64, null, null, [new MembershipState(m, MembershipStatus.Active)], false, counters, 0, 42, []);
        string text = state.ToString();
        Assert.Contains("Memberships = [MembershipState { Membership = Membership { Group = 232.1.1.1, InterfaceIndex = 7, InterfaceName = lab0a, "
            + "Mode = Include, Sources = [198.51.100.3] }, Status = Active }]", text);
        Assert.EndsWith("Sequence = 42, Subscribers = [] }", text);
        AssertEveryPropertyPrinted(state, text);
        Assert.Contains("Sources = [198.51.100.3]", new MembershipPending("md", m, "lab0a is absent").ToString());
    }

    [Fact]
    public void AppendValue_NestsCollections_AndLeavesStringsAndScalarsAlone()
    {
        var b = new StringBuilder();
        RecordText.AppendValue(b, new List<int[]> { new[] { 1, 2 }, Array.Empty<int>() });
        b.Append(" | ");
        RecordText.AppendValue(b, "text");
        b.Append(" | ");
        RecordText.AppendValue(b, 5);
        b.Append(" | ");
        RecordText.AppendValue(b, null);
        Assert.Equal("[[1, 2], []] | text | 5 | ", b.ToString());
    }

    /// <summary>No member is left out and no collection prints as a type name.</summary>
    private static void AssertEveryPropertyPrinted<T>(T record, string text)
    {
        foreach (PropertyInfo p in typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance)) Assert.Contains(p.Name + " = ", text);
        Assert.DoesNotContain("z__ReadOnly", text);
        Assert.DoesNotContain("System.Collections", text);
        Assert.DoesNotContain("[System.", text);
    }
}
