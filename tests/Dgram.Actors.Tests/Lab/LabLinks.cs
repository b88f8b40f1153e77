using System.Diagnostics;
using System.Net;

namespace Dgram.Actors.Tests.Lab;

/// <summary>
/// A veth pair a test makes for itself (so deleting or downing it disturbs no other test): names
/// dgNNNa / dgNNNb, IPv4 198.51.100.(100+NNN)/(150+NNN) as /32s and IPv6 fd00:d9a:9:NNN::1 / ::2;
/// on request a second source on the B end, 198.51.100.(200+NNN) / fd00:d9a:9:NNN::3 (so up to .249: a test that
/// needs an IPv4 address no interface has takes one of .250-.254, one per test).
/// </summary>
public sealed class LabLink : IDisposable
{
    private static int s_next;

    public LabLink()
    {
        Number = Interlocked.Increment(ref s_next);
        if (Number > 49) throw new InvalidOperationException("out of lab link numbers");
        Create();
    }

    public int Number { get; }
    public string A => $"dg{Number:D3}a";
    public string B => $"dg{Number:D3}b";
    public IPAddress A4 => IPAddress.Parse($"198.51.100.{100 + Number}");
    public IPAddress B4 => IPAddress.Parse($"198.51.100.{150 + Number}");
    public IPAddress A6 => IPAddress.Parse($"fd00:d9a:9:{Number}::1");
    public IPAddress B6 => IPAddress.Parse($"fd00:d9a:9:{Number}::2");

    public IPAddress SourceB(LabFamily f) => f.IsV6 ? B6 : B4;

    /// <summary>Adds the B end's second source address for <paramref name="f"/> and returns it (<see cref="Create"/> does not add it again).</summary>
    public IPAddress AddSecondSourceB(LabFamily f)
    {
        IPAddress a = f.IsV6 ? IPAddress.Parse($"fd00:d9a:9:{Number}::3") : IPAddress.Parse($"198.51.100.{200 + Number}");
        if (f.IsV6) Ip("-6", "addr", "add", a + "/64", "dev", B, "nodad");
        else Ip("addr", "add", a + "/32", "dev", B);
        return a;
    }

    /// <summary>Creates (or re-creates) the pair with its addresses, up.</summary>
    public void Create()
    {
        Ip("link", "add", A, "type", "veth", "peer", "name", B);
        foreach (string dev in new[] { A, B })
        {
            File.WriteAllText($"/proc/sys/net/ipv6/conf/{dev}/accept_dad", "0");
            File.WriteAllText($"/proc/sys/net/ipv4/conf/{dev}/accept_local", "1");
            File.WriteAllText($"/proc/sys/net/ipv4/conf/{dev}/rp_filter", "0");
        }
        Ip("addr", "add", A4 + "/32", "dev", A);
        Ip("addr", "add", B4 + "/32", "dev", B);
        Ip("-6", "addr", "add", A6 + "/64", "dev", A, "nodad");
        Ip("-6", "addr", "add", B6 + "/64", "dev", B, "nodad");
        Ip("link", "set", A, "up");
        Ip("link", "set", B, "up");
    }

    /// <summary>Deletes the pair (both ends go).</summary>
    public void Delete() => Ip("link", "del", A);

    public void Dispose()
    {
        // Not /sys/class/net: sysfs shows the namespace it was mounted in, not this one.
        if (Dgram.Actors.Sockets.NetworkInterfaceNames.TryGetIndex(A, out _) == 0) Delete();
    }

    public static void Ip(params string[] args) => Run("ip", args);

    /// <summary>Runs a command to its end; fails with its stderr when it fails.</summary>
    public static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)}: {err.Trim()}");
    }
}
