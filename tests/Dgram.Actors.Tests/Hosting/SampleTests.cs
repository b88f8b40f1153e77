using System.Net;
using System.Text.Json;
using Dgram.Actors.Tests.Lab;
using Dgram.Actors.Tests.Sockets;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Hosting;

/// <summary>
/// The main job in its short mode, in the lab. It deletes and re-creates lab0a, so it runs in the
/// serial collection (after every test that uses the lab in parallel).
/// </summary>
[Collection(SerialCollection.Name)]
[Trait("Area", "Hosting")]
public sealed class SampleTests(ITestOutputHelper output)
{
    /// <summary>Sources the sample may send from: the lab's ranges and loopback.</summary>
    private static bool IsLabOrLoopbackSource(IPAddress a) =>
        IPAddress.IsLoopback(a) || InPrefix(a, "198.51.100.0", 24) || InPrefix(a, "203.0.113.0", 24) || InPrefix(a, "fd00:d9a::", 32);

    /// <summary>Groups the sample may use: the lab's group ranges.</summary>
    private static bool IsLabGroup(IPAddress a) =>
        InPrefix(a, "239.255.0.0", 16) || InPrefix(a, "232.0.0.0", 8)
        || new[] { "ff15::", "ff35::", "ff02::", "ff12::", "ff32::" }.Any(p => InPrefix(a, p, 16));

    private static bool InPrefix(IPAddress a, string prefix, int bits)
    {
        byte[] x = a.GetAddressBytes(), p = IPAddress.Parse(prefix).GetAddressBytes();
        if (x.Length != p.Length) return false;
        for (int i = 0; i < bits; i++)
        {
            int mask = 0x80 >> (i % 8);
            if ((x[i / 8] & mask) != (p[i / 8] & mask)) return false;
        }
        return true;
    }

    [Theory]
    [InlineData("appsettings.lab.json")]
    [InlineData("appsettings.loopback.json")]
    public void SampleConfiguration_SendsOnlyFromTheLabOrLoopback_ToLabGroups_AndReceiversBindTheirGroup(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(SampleProcess.Root, "samples", "Dgram.Sample", file)));
        var sockets = doc.RootElement.GetProperty("Dgram").GetProperty("Sockets").EnumerateObject().ToList();
        var publishers = doc.RootElement.GetProperty("Publishers").EnumerateArray().ToList();
        Assert.NotEmpty(sockets);
        Assert.NotEmpty(publishers);
        foreach (JsonProperty socket in sockets)
        {
            // Never the wildcard: a sample run on a host (no namespace) must not listen on its real interfaces.
            var bind = IPEndPoint.Parse(socket.Value.GetProperty("Bind").GetString()!);
            Assert.True(IsLabGroup(bind.Address), $"{file}: {socket.Name} binds {bind.Address}, not one of its lab groups");
            foreach (JsonElement g in socket.Value.GetProperty("Groups").EnumerateArray())
            {
                Assert.True(IsLabGroup(IPAddress.Parse(g.GetProperty("Group").GetString()!)), $"{file}: {socket.Name} joins outside the lab's groups");
                Assert.Matches("^(lo|lab[01][ab])$", g.GetProperty("Interface").GetString()!);
            }
        }
        foreach (JsonElement p in publishers)
        {
            Assert.True(IsLabOrLoopbackSource(IPAddress.Parse(p.GetProperty("Source").GetString()!)), $"{file}: a publisher sends from outside the lab");
            Assert.True(IsLabGroup(IPAddress.Parse(p.GetProperty("Group").GetString()!)), $"{file}: a publisher sends outside the lab's groups");
            Assert.Matches("^(lo|lab[01][ab])$", p.GetProperty("Interface").GetString()!);
        }
    }

    [Fact]
    public async Task Sample_ShortRun_SurvivesBothFaults_AndReportsMembershipsRestored()
    {
        LabNet.Require();
        SampleProcess.Result run = await SampleProcess.Run(TimeSpan.FromSeconds(60), "--duration", "5", "--plain");
        string stdout = run.Stdout;
        output.WriteLine(run.ToString());

        string summary = stdout.Split('\n').Last(l => l.StartsWith("summary: ", StringComparison.Ordinal));
        Assert.Matches(@"^summary: sent=\d+ received=\d+ lost=\d+ dropped=\d+ restarts=1 send-failures=\d+ memberships-restored=yes$", summary.TrimEnd());
        Assert.Contains("fault: kill ssm-rx incarnation: recovered", stdout);
        Assert.Contains("fault: delete and re-create lab0a: recovered", stdout);
        Assert.Equal(0, run.ExitCode);
        Assert.DoesNotContain(" ERROR ", run.Stderr); // both faults are intended: logged as what they are
        Assert.True(LabNet.Index("lab0a") > 0); // the lab is back for whatever runs next
    }

    [Fact]
    public async Task Sample_SitesTwo_WithoutTheSites_RefusesWithOneLine_PointingAtRunSh()
    {
        // --sites 2 needs the namespaces and bridge nodes lab/sites.sh builds around it: alone it must not run on one segment.
        SampleProcess.Result run = await SampleProcess.Run(TimeSpan.FromSeconds(30), "--sites", "2", "--plain");
        output.WriteLine(run.ToString());
        Assert.Equal(2, run.ExitCode);
        Assert.Equal("dgram sample: --sites 2: no sites here (DGRAM_SITES names no directory with sites.env); run ./run.sh --sites 2", Assert.Single(run.StderrLines));
        Assert.Equal("", run.Stdout);
    }
}
