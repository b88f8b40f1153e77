using System.Net;
using System.Net.Sockets;
using Dgram.Actors.Sockets;

namespace Dgram.Actors.Tests.Lab;

/// <summary>
/// The veth lab that lab/lab.sh builds inside the test namespace. Tests only check that it is there;
/// they never build it (the runner needs lo before any fixture runs).
/// </summary>
public static class LabNet
{
    public const string Rx0 = "lab0a", Tx0 = "lab0b", Rx1 = "lab1a", Tx1 = "lab1b";

    private static int s_port = 20000;
    private static int s_group;

    /// <summary>Fails (not skips) a test outside the lab: these tests must never touch the host network.</summary>
    public static void Require()
    {
        if (Environment.GetEnvironmentVariable("DGRAM_LAB") != "1")
        {
            throw new InvalidOperationException("not inside the lab namespace: run the tests with ./test.sh");
        }
        foreach (string name in new[] { Rx0, Tx0, Rx1, Tx1 })
        {
            if (NetworkInterfaceNames.TryGetIndex(name, out _) != 0)
            {
                throw new InvalidOperationException($"lab interface {name} is missing: run the tests with ./test.sh");
            }
        }
    }

    public static int Index(string name) => NetworkInterfaceNames.GetIndex(name);

    /// <summary>A port no other test uses in this run.</summary>
    public static int NextPort() => Interlocked.Increment(ref s_port);

    /// <summary>A number no other test uses in this run, for building unique group addresses.</summary>
    public static int NextGroupNumber() => Interlocked.Increment(ref s_group);

    /// <summary>A plain socket bound to <paramref name="source"/> that sends multicast out of <paramref name="ifname"/>.</summary>
    public static DatagramSocket OpenSender(LabFamily f, IPAddress source, string ifname)
    {
        var s = DatagramSocket.Create(f.Family);
        try
        {
            s.Bind(new IPEndPoint(source, 0));
            s.SetMulticastInterface(ifname);
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <summary>Sends <paramref name="text"/> and asserts the kernel took it.</summary>
    public static void SendText(DatagramSocket s, IPAddress to, int port, string text)
    {
        SendResult r = s.SendTo(System.Text.Encoding.UTF8.GetBytes(text), new IPEndPoint(to, port), TimeSpan.FromSeconds(5));
        Xunit.Assert.True(r.Status == SendStatus.Sent, $"send of '{text}' to {to}:{port}: {r}");
    }

    /// <summary>The fe80:: address of an interface, from /proc/net/if_inet6, with its scope set.</summary>
    public static IPAddress LinkLocal(string ifname)
    {
        foreach (string line in File.ReadAllLines("/proc/net/if_inet6"))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 6 && f[5] == ifname && f[0].StartsWith("fe80", StringComparison.Ordinal))
            {
                return new IPAddress(Convert.FromHexString(f[0]), Index(ifname));
            }
        }
        throw new InvalidOperationException($"no link-local address on {ifname}");
    }
}

/// <summary>
/// One address family's view of the lab: which addresses send, which groups to use, what the kernel
/// does differently. Test suites take one of these so a single test body runs for IPv4 and IPv6.
/// </summary>
public sealed class LabFamily
{
    public static readonly LabFamily V4 = new(
        AddressFamily.InterNetwork,
        [IPAddress.Parse("198.51.100.2"), IPAddress.Parse("198.51.100.3"), IPAddress.Parse("198.51.100.4")],
        [IPAddress.Parse("203.0.113.2"), IPAddress.Parse("203.0.113.3")],
        IPAddress.Parse("198.51.100.1"),
        IPAddress.Loopback,
        n => IPAddress.Parse($"239.255.{(n >> 8) & 255}.{n & 255}"),
        n => IPAddress.Parse($"232.1.{(n >> 8) & 255}.{n & 255}"),
        interfaceBlindDelivery: false);

    public static readonly LabFamily V6 = new(
        AddressFamily.InterNetworkV6,
        [IPAddress.Parse("fd00:d9a::2"), IPAddress.Parse("fd00:d9a::3"), IPAddress.Parse("fd00:d9a::4")],
        [IPAddress.Parse("fd00:d9a:1::2"), IPAddress.Parse("fd00:d9a:1::3")],
        IPAddress.Parse("fd00:d9a::1"),
        IPAddress.IPv6Loopback,
        n => IPAddress.Parse($"ff15::d9a:{n:x}"),
        n => IPAddress.Parse($"ff35::d9a:{n:x}"),
        interfaceBlindDelivery: true);

    private readonly Func<int, IPAddress> _group, _ssmGroup;

    private LabFamily(AddressFamily family, IPAddress[] tx0Sources, IPAddress[] tx1Sources, IPAddress rx0Address,
        IPAddress loopback, Func<int, IPAddress> group, Func<int, IPAddress> ssmGroup, bool interfaceBlindDelivery)
    {
        Family = family;
        Tx0Sources = tx0Sources;
        Tx1Sources = tx1Sources;
        Rx0Address = rx0Address;
        Loopback = loopback;
        _group = group;
        _ssmGroup = ssmGroup;
        InterfaceBlindDelivery = interfaceBlindDelivery;
    }

    public AddressFamily Family { get; }
    /// <summary>Addresses on lab0b: datagrams sent from them out of lab0b arrive on lab0a.</summary>
    public IPAddress[] Tx0Sources { get; }
    /// <summary>Addresses on lab1b: datagrams sent out of lab1b arrive on lab1a.</summary>
    public IPAddress[] Tx1Sources { get; }
    public IPAddress Rx0Address { get; }
    public IPAddress Loopback { get; }
    public IPAddress Any => Family == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any;
    public bool IsV6 => Family == AddressFamily.InterNetworkV6;
    /// <summary>IPv6 hands a joined group's datagrams to a socket whatever interface they arrived on.</summary>
    public bool InterfaceBlindDelivery { get; }

    /// <summary>A fresh any-source group (239.255/16 or ff15::/16).</summary>
    public IPAddress NewGroup() => _group(LabNet.NextGroupNumber());
    /// <summary>A fresh source-specific group (232/8 or ff35::/16).</summary>
    public IPAddress NewSsmGroup() => _ssmGroup(LabNet.NextGroupNumber());

    public override string ToString() => IsV6 ? "IPv6" : "IPv4";
}
