using System.Net;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Actors;

/// <summary>
/// A membership whose interface is absent when the socket starts: pending by default, a start failure
/// with <see cref="AbsentInterfacePolicy.Fail"/>. A malformed interface name, and settings that cannot
/// work, are errors whatever the policy, before any socket exists.
/// </summary>
public abstract class StartupPolicyTests : ActorTestBase
{
    private readonly LabFamily _f;

    protected StartupPolicyTests(LabFamily family, ITestOutputHelper output) : base(output) => _f = family;

    /// <summary>A valid interface name that no interface has (and no other test uses).</summary>
    private static string AbsentInterface()
    {
        string name = "dgabs" + LabNet.NextGroupNumber();
        Assert.Equal(Dgram.Actors.Sockets.Native.Errno.ENODEV, NetworkInterfaceNames.TryGetIndex(name, out _));
        return name;
    }

    private SocketSettings Settings(int port, params GroupSettings[] groups) => new()
    {
        Name = "sp-" + port,
        Family = _f.Family,
        LocalEndPoint = new IPEndPoint(_f.Any, port),
        Groups = groups,
    };

    private LabFamily Other => _f.IsV6 ? LabFamily.V4 : LabFamily.V6;

    [Fact]
    public async Task StartAsync_AbsentInterface_DefaultPolicy_StartsWithTheMembershipPending()
    {
        int port = LabNet.NextPort();
        string absent = AbsentInterface();
        IPAddress group = _f.NewGroup(), present = _f.NewGroup();
        SocketSettings settings = Settings(port, new GroupSettings(group, absent), new GroupSettings(present, LabNet.Rx0));
        Assert.Equal(AbsentInterfacePolicy.Pending, settings.AbsentInterface);

        SocketClient client = await SocketClient.StartAsync(Sys, settings);

        SocketState state = await client.GetStateAsync();
        MembershipState pending = Assert.Single(state.Memberships, m => m.Membership.Group.Equals(group));
        Assert.Equal(MembershipStatus.Pending, pending.Status);
        Assert.Equal(absent, pending.Membership.InterfaceName);
        MembershipState active = Assert.Single(state.Memberships, m => m.Membership.Group.Equals(present));
        Assert.Equal(MembershipStatus.Active, active.Status);
        Assert.Contains(present, KernelTables.Groups(_f, LabNet.Index(LabNet.Rx0)));
        Assert.Equal(port, ((IPEndPoint)state.LocalEndPoint!).Port);
    }

    [Fact]
    public async Task StartAsync_AbsentInterface_FailPolicy_ThrowsUnknownInterface()
    {
        int port = LabNet.NextPort();
        string absent = AbsentInterface();
        SocketSettings settings = Settings(port, new GroupSettings(_f.NewGroup(), absent)) with { AbsentInterface = AbsentInterfacePolicy.Fail };

        var e = await Assert.ThrowsAsync<DatagramSocketException>(() => SocketClient.StartAsync(Sys, settings, Arrival));
        Assert.Equal(DatagramSocketError.UnknownInterface, e.Error);
        Assert.Contains(absent, e.Message);
    }

    [Fact]
    public async Task StartAsync_FailedStart_LeavesNoSocketActorBehind()
    {
        int port = LabNet.NextPort();
        SocketSettings settings = Settings(port, new GroupSettings(_f.NewGroup(), AbsentInterface())) with { AbsentInterface = AbsentInterfacePolicy.Fail };

        await Assert.ThrowsAsync<DatagramSocketException>(() => SocketClient.StartAsync(Sys, settings, Arrival));

        // Nothing keeps retrying in the background: the actor is gone and its name and port are free.
        await AwaitAssertAsync(async () =>
            await Assert.ThrowsAsync<ActorNotFoundException>(() => Sys.ActorSelection("/user/" + settings.Name).ResolveOne(TimeSpan.FromSeconds(1))),
            Arrival);
        var again = Core(_f.Family);
        again.Bind(new IPEndPoint(_f.Any, port));
    }

    [Theory]
    [InlineData(AbsentInterfacePolicy.Pending)]
    [InlineData(AbsentInterfacePolicy.Fail)]
    public async Task StartAsync_MalformedInterfaceName_ThrowsInvalidInterfaceName_WhateverThePolicy(AbsentInterfacePolicy policy)
    {
        int port = LabNet.NextPort();
        SocketSettings settings = Settings(port, new GroupSettings(_f.NewGroup(), "name-longer-than-15-bytes")) with { AbsentInterface = policy };

        var e = await Assert.ThrowsAsync<DatagramSocketException>(() => SocketClient.StartAsync(Sys, settings, Arrival));
        Assert.Equal(DatagramSocketError.InvalidInterfaceName, e.Error);
        Assert.Contains("name-longer-than-15-bytes", e.Message);
    }

    [Theory]
    [InlineData("group of the other family", DatagramSocketError.FamilyMismatch)]
    [InlineData("unicast group", DatagramSocketError.NotMulticast)]
    [InlineData("empty name", DatagramSocketError.InvalidArgument)]
    [InlineData("malformed interface name", DatagramSocketError.InvalidInterfaceName)]
    [InlineData("malformed multicast interface", DatagramSocketError.InvalidInterfaceName)]
    public void Validate_BadSettings_ThrowsTheNamedError(string setting, DatagramSocketError expected)
    {
        SocketSettings good = Settings(LabNet.NextPort(), new GroupSettings(_f.NewGroup(), LabNet.Rx0));
        good.Validate();
        SocketSettings bad = setting switch
        {
            "group of the other family" => good with { Groups = [new GroupSettings(Other.NewGroup(), LabNet.Rx0)] },
            "unicast group" => good with { Groups = [new GroupSettings(_f.Rx0Address, LabNet.Rx0)] },
            "empty name" => good with { Name = "" },
            "malformed interface name" => good with { Groups = [new GroupSettings(_f.NewGroup(), "name-longer-than-15-bytes")] },
            "malformed multicast interface" => good with { MulticastInterface = "name-longer-than-15-bytes" },
            _ => throw new ArgumentOutOfRangeException(nameof(setting)),
        };

        var e = Assert.Throws<DatagramSocketException>(bad.Validate);
        Assert.Equal(expected, e.Error);
    }

    [Fact]
    public async Task JoinGroupAsync_AbsentInterface_ReturnsPending_AndStateShowsIt()
    {
        var (client, _) = await StartReceiver(_f);
        string absent = AbsentInterface();
        IPAddress group = _f.NewGroup();

        Assert.Equal(MembershipStatus.Pending, await client.JoinGroupAsync(group, absent));

        MembershipState m = Assert.Single((await client.GetStateAsync()).Memberships);
        Assert.Equal((group, absent, MembershipStatus.Pending), (m.Membership.Group, m.Membership.InterfaceName, m.Status));
        // The socket goes on working meanwhile.
        Assert.Equal(MembershipStatus.Active, await client.JoinGroupAsync(_f.NewGroup(), LabNet.Rx0));
    }
}

[Trait("Area", "Supervision")]
public sealed class StartupPolicyTestsV4(ITestOutputHelper output) : StartupPolicyTests(LabFamily.V4, output);

[Trait("Area", "Supervision")]
public sealed class StartupPolicyTestsV6(ITestOutputHelper output) : StartupPolicyTests(LabFamily.V6, output);
