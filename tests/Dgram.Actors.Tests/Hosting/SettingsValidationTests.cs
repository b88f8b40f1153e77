using System.Net;
using System.Net.Sockets;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Hosting;

/// <summary>
/// <see cref="SocketSettings.Validate"/> for settings built in code, per family: what the kernel would
/// refuse at start (a duplicate membership, a duplicate or multicast source, Sources with
/// BlockedSources, more groups or sources than the live limits, a name no actor can have) is one
/// <see cref="DatagramSocketException"/> naming the setting before any socket exists.
/// </summary>
[Trait("Area", "Hosting")]
public abstract class SettingsValidationTests
{
    private readonly LabFamily _f;

    protected SettingsValidationTests(LabFamily family)
    {
        LabNet.Require();
        _f = family;
    }

    private SocketSettings Settings(params GroupSettings[] groups) => new()
    {
        Name = "sv-" + LabNet.NextPort(),
        Family = _f.Family,
        LocalEndPoint = new IPEndPoint(_f.Any, LabNet.NextPort()),
        Groups = groups,
    };

    private IPAddress Source(int i) => _f.IsV6 ? IPAddress.Parse($"fd00:d9a:7::{i + 1:x}") : IPAddress.Parse($"203.0.113.{100 + i}");

    private static DatagramSocketException Refused(SocketSettings s, DatagramSocketError error, string arguments)
    {
        var e = Assert.Throws<DatagramSocketException>(s.Validate);
        Assert.Equal(("SocketSettings", error, arguments), (e.Operation, e.Error, e.Arguments));
        return e;
    }

    [Fact]
    public void Validate_SourcesAndBlockedSources_InOneGroup_IsRefused()
    {
        var s = Settings(new GroupSettings(_f.NewGroup(), LabNet.Rx0, [_f.Tx0Sources[0]], [_f.Tx0Sources[1]]));

        var e = Refused(s, DatagramSocketError.InvalidArgument, "Groups[0].BlockedSources");

        Assert.Contains("not both", e.Message);
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("$x")]
    [InlineData("rx one")]
    [InlineData("ü")]
    public void Validate_NameThatCannotNameAnActor_IsInvalidArgument_NotAnAkkaException(string name)
    {
        var s = Settings() with { Name = name };

        var e = Refused(s, DatagramSocketError.InvalidArgument, $"Name=\"{name}\"");

        Assert.Contains("not a valid actor name", e.Message);
    }

    [Fact]
    public void Validate_DuplicateMembership_IsRefused_ForANamedInterfaceAndForTheKernelsChoice()
    {
        IPAddress g = _f.NewGroup();
        // The same group on two interfaces is two memberships; a named interface and the kernel's choice are not compared.
        Settings(new GroupSettings(g, LabNet.Rx0), new GroupSettings(g, LabNet.Rx1), new GroupSettings(g, null)).Validate();

        Refused(Settings(new GroupSettings(g, LabNet.Rx0), new GroupSettings(_f.NewGroup(), LabNet.Rx0), new GroupSettings(g, LabNet.Rx0)),
            DatagramSocketError.InvalidArgument, "Groups[2]");
        var e = Refused(Settings(new GroupSettings(g, null), new GroupSettings(g, null)), DatagramSocketError.InvalidArgument, "Groups[1]");
        Assert.Contains("already entry 0", e.Message);
    }

    [Fact]
    public void Validate_BadSource_IsRefused_NamingItsList_AndItsEntry()
    {
        IPAddress g = _f.NewSsmGroup();
        IPAddress s0 = _f.Tx0Sources[0];
        IPAddress any = _f.IsV6 ? IPAddress.IPv6Any : IPAddress.Any;
        IPAddress multicast = _f.NewGroup();

        Refused(Settings(new GroupSettings(g, LabNet.Rx0, [s0, _f.Tx0Sources[1], s0])), DatagramSocketError.InvalidArgument, "Groups[0].Sources[2]");
        var e = Refused(Settings(new GroupSettings(_f.NewGroup(), LabNet.Rx0, null, [s0, multicast])), DatagramSocketError.InvalidArgument, "Groups[0].BlockedSources[1]");
        Assert.EndsWith($"{multicast} is a multicast address", e.Message);
        e = Refused(Settings(new GroupSettings(g, LabNet.Rx0, [any])), DatagramSocketError.InvalidArgument, "Groups[0].Sources[0]");
        Assert.EndsWith($"{any} is the unspecified address", e.Message);
    }

    [Fact]
    public void Validate_SourcesPastTheLivePerGroupLimit_AreRefused_NamingTheSysctl()
    {
        (string knob, int limit) = _f.IsV6 ? ("net.ipv6.mld_max_msf", KernelTables.Sysctl("net.ipv6.mld_max_msf", 64)) : ("net.ipv4.igmp_max_msf", KernelTables.Sysctl("net.ipv4.igmp_max_msf", 10));
        IPAddress[] sources = Enumerable.Range(0, limit + 1).Select(Source).ToArray();
        Settings(new GroupSettings(_f.NewSsmGroup(), LabNet.Rx0, sources[..limit])).Validate();

        var e = Refused(Settings(new GroupSettings(_f.NewSsmGroup(), LabNet.Rx0, sources)), DatagramSocketError.OutOfRange, $"Groups[0].Sources[{limit}]");

        Assert.Contains($"{knob}={limit}", e.Message);
    }

    [Fact]
    public void Validate_GroupsPastIgmpMaxMemberships_AreRefusedOnIPv4_IPv6HasNoSuchLimit()
    {
        int limit = KernelTables.Sysctl("net.ipv4.igmp_max_memberships", 20);
        GroupSettings[] groups = Enumerable.Range(0, limit + 1).Select(_ => new GroupSettings(_f.NewGroup(), LabNet.Rx0)).ToArray();
        Settings(groups[..limit]).Validate();
        if (_f.IsV6)
        {
            Settings(groups).Validate(); // bounded only by net.core.optmem_max (ENOMEM), which depends on what else the socket holds
            Refused(Settings(groups[0], groups[0]), DatagramSocketError.InvalidArgument, "Groups[1]"); // and still checked
            return;
        }

        var e = Refused(Settings(groups), DatagramSocketError.OutOfRange, $"Groups[{limit}]");

        Assert.Contains($"net.ipv4.igmp_max_memberships={limit}", e.Message);
    }
}

public sealed class SettingsValidationTestsV4() : SettingsValidationTests(LabFamily.V4);

public sealed class SettingsValidationTestsV6() : SettingsValidationTests(LabFamily.V6);

/// <summary>Sockets that will run side by side, checked against each other as the kernel checks binds.</summary>
[Trait("Area", "Hosting")]
public sealed class SocketSetValidationTests
{
    public SocketSetValidationTests() => LabNet.Require();

    /// <summary>
    /// Pairs built in code (dual mode and SO_REUSEPORT are not in configuration), bound for real: the
    /// set check refuses a pair exactly when the kernel refuses the second bind.
    /// </summary>
    [Fact]
    public void ValidateTogether_BindClashes_MatchTheKernel_IncludingDualModeAndReusePort()
    {
        int Port() => LabNet.NextPort();
        SocketSettings At(AddressFamily family, IPAddress address, int port, AddressReuse reuse = AddressReuse.None, bool dual = false) => new()
        {
            Name = "bt-" + LabNet.NextPort(),
            Family = family,
            LocalEndPoint = new IPEndPoint(address, port),
            Reuse = reuse,
            SocketOptions = new DatagramSocketOptions { DualMode = dual },
        };
        const AddressFamily V4 = AddressFamily.InterNetwork, V6 = AddressFamily.InterNetworkV6;
        IPAddress lab4 = LabFamily.V4.Rx0Address;
        var pairs = new List<(SocketSettings A, SocketSettings B)>();
        void Pair(Func<int, (SocketSettings, SocketSettings)> make) => pairs.Add(make(Port()));
        Pair(p => (At(V6, IPAddress.IPv6Any, p, dual: true), At(V4, lab4, p)));
        Pair(p => (At(V4, IPAddress.Any, p), At(V6, IPAddress.IPv6Any, p, dual: true)));
        Pair(p => (At(V4, IPAddress.Any, p), At(V6, IPAddress.IPv6Any, p)));
        Pair(p => (At(V6, lab4.MapToIPv6(), p, dual: true), At(V4, lab4, p)));
        Pair(p => (At(V4, IPAddress.Any, p, AddressReuse.ReusePort), At(V4, IPAddress.Any, p, AddressReuse.ReusePort)));
        Pair(p => (At(V4, IPAddress.Any, p, AddressReuse.ReuseAddress), At(V4, IPAddress.Any, p, AddressReuse.ReusePort)));
        Pair(p => (At(V4, IPAddress.Any, p, AddressReuse.ReuseAddress | AddressReuse.ReusePort), At(V4, IPAddress.Any, p, AddressReuse.ReusePort)));
        Pair(p => (At(V4, IPAddress.Any, 0), At(V4, IPAddress.Any, 0)));

        var wrong = new List<string>();
        foreach (var (a, b) in pairs)
        {
            bool kernel = BindProbe.KernelRefusesSecondBind(a, b);
            BindClash? clash = SettingsValidator.FindBindClash([a, b]);
            Exception? thrown = Record.Exception(() => SettingsValidator.ValidateTogether([a, b]));
            if (kernel != clash is not null || kernel != thrown is not null)
            {
                wrong.Add($"{a.LocalEndPoint} {a.Reuse} dual={a.SocketOptions.DualMode} + {b.LocalEndPoint} {b.Reuse} dual={b.SocketOptions.DualMode}: "
                    + $"kernel {(kernel ? "refuses" : "accepts")}, validation {thrown?.Message ?? "accepts"}");
            }
            else if (thrown is not null)
            {
                var e = Assert.IsType<DatagramSocketException>(thrown);
                Assert.Equal((1, 0, DatagramSocketError.InvalidArgument), (clash!.Index, clash.Other, e.Error));
                Assert.Contains($"socket '{b.Name}': socket '{a.Name}' binds", e.Message);
            }
        }
        Assert.True(wrong.Count == 0, string.Join(Environment.NewLine, wrong));
    }

    [Fact]
    public void ValidateTogether_TwoSocketsWithOneName_AreRefused()
    {
        SocketSettings a = new() { Name = "twin", Family = AddressFamily.InterNetwork, LocalEndPoint = new IPEndPoint(IPAddress.Any, LabNet.NextPort()) };
        SocketSettings b = a with { LocalEndPoint = new IPEndPoint(IPAddress.Any, LabNet.NextPort()) };

        var e = Assert.Throws<DatagramSocketException>(() => SettingsValidator.ValidateTogether([a, b]));

        Assert.Equal($"Name=\"{a.Name}\"", e.Arguments);
    }
}
