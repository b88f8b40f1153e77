using System.Diagnostics;
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
    [Fact]
    public async Task Sample_ShortRun_SurvivesBothFaults_AndReportsMembershipsRestored()
    {
        LabNet.Require();
        // tests/Dgram.Actors.Tests/bin/<Configuration>/net10.0 -> samples/Dgram.Sample/bin/<Configuration>/net10.0
        var testDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        string configuration = testDir.Parent!.Name;
        string root = testDir.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
        string sample = Path.Combine(root, "samples", "Dgram.Sample", "bin", configuration, "net10.0", "Dgram.Sample.dll");
        Assert.True(File.Exists(sample), $"sample not built at {sample}");

        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { sample, "--duration", "5", "--plain" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        Task<string> stdoutTask = p.StandardOutput.ReadToEndAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        bool exited = true;
        try
        {
            await p.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            exited = false;
            p.Kill(entireProcessTree: true);
        }
        string stdout = await stdoutTask;
        output.WriteLine(stdout);
        output.WriteLine(await stderr);
        Assert.True(exited, "the sample did not end in 60 s");

        string summary = stdout.Split('\n').Last(l => l.StartsWith("summary: ", StringComparison.Ordinal));
        Assert.Matches(@"^summary: sent=\d+ received=\d+ lost=\d+ dropped=\d+ restarts=1 memberships-restored=yes$", summary.TrimEnd());
        Assert.Contains("fault: kill ssm-rx incarnation: recovered", stdout);
        Assert.Contains("fault: delete and re-create lab0a: recovered", stdout);
        Assert.Equal(0, p.ExitCode);
        Assert.True(LabNet.Index("lab0a") > 0); // the lab is back for whatever runs next
    }
}
