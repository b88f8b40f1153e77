using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Hosting;

/// <summary>
/// The sample as a user meets it: a start that fails, the metrics flag, a terminal. Each run uses the loopback
/// configuration with fresh ports and groups (no interface fault), so these run beside the other lab tests.
/// </summary>
[Trait("Area", "Hosting")]
public sealed partial class SampleRunTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly List<string> _files = [];

    private string Config(Func<string, string>? edit = null)
    {
        string path = SampleProcess.FreshLoopbackConfig(edit);
        _files.Add(path);
        return path;
    }

    public void Dispose()
    {
        foreach (string f in _files) File.Delete(f);
    }

    private static void AssertOneLineCannotStart(SampleProcess.Result run, string setting, string problem)
    {
        Assert.Equal(3, run.ExitCode);
        string line = Assert.Single(run.StderrLines);
        Assert.StartsWith($"dgram sample: cannot start: {setting}: ", line);
        Assert.Contains(problem, line);
        Assert.Equal("", run.Stdout);
    }

    [Fact]
    public async Task Sample_UnknownKey_OneLineOnStderr_Exit3()
    {
        LabNet.Require();
        string config = Config(json => json.Replace("\"Family\"", "\"Famliy\"", StringComparison.Ordinal));

        SampleProcess.Result run = await SampleProcess.Run(Bound, "--loopback", "--plain", "--config", config);
        output.WriteLine(run.ToString());

        AssertOneLineCannotStart(run, "Dgram:Sockets:asm-rx:Famliy", "unknown key; did you mean 'Family'?");
    }

    [Fact]
    public async Task Sample_PortInUse_OneLineOnStderrNamingTheBind_Exit3()
    {
        LabNet.Require();
        string config = Config();
        string bind = Regex.Match(File.ReadAllText(config), "\"asm-rx\".*?\"Bind\": \"(?<bind>[^\"]+)\"", RegexOptions.Singleline).Groups["bind"].Value;
        var port = IPEndPoint.Parse(bind).Port;
        // Held without SO_REUSEADDR: the sample's bind of its group on this port fails with EADDRINUSE.
        using var holder = DatagramSocket.Create(AddressFamily.InterNetwork);
        holder.Bind(new IPEndPoint(IPAddress.Any, port));

        SampleProcess.Result run = await SampleProcess.Run(Bound, "--loopback", "--plain", "--config", config);
        output.WriteLine(run.ToString());

        AssertOneLineCannotStart(run, "Dgram:Sockets:asm-rx:Bind", "EADDRINUSE");
    }

    [Fact]
    public async Task Sample_MetricsConsole_PrintsTheDgramInstruments()
    {
        LabNet.Require();
        SampleProcess.Result run = await SampleProcess.Run(Bound, "--loopback", "--duration", "3", "--metrics-console", "--config", Config());
        output.WriteLine(run.ToString());

        Assert.Equal(0, run.ExitCode);
        // The console exporter's block: the instrument, then per tag set its interval, tags and value.
        Assert.Matches(new Regex(@"Metric Name: dgram\.datagrams\.received,.*?\] socket: asm-rx\s*\nValue: [1-9]", RegexOptions.Singleline), run.Stdout);
        Assert.Contains("Metric Name: dgram.restarts,", run.Stdout); // the kill, counted
    }

    // Escape sequences: CSI (colours, cursor moves), OSC, and single-character ones such as ESC = and ESC >.
    [GeneratedRegex(@"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[=>])")]
    private static partial Regex Escapes();

    [Fact]
    public async Task Sample_InATerminal_LogLinesStayInThePanelUnderTheTable_SummaryCarriesSendFailures()
    {
        LabNet.Require();
        SampleProcess.Result run = await SampleProcess.RunInTerminal(Bound, "--loopback", "--duration", "4", "--config", Config());
        string[] lines = [.. Escapes().Replace(run.Stdout + run.Stderr, "").Split('\n').Select(l => l.Trim('\r'))];
        output.WriteLine(string.Join('\n', lines));

        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}");
        // The intended kill: logged as what it is, inside the panel under the table (never across it).
        string[] kill = [.. lines.Where(l => l.Contains("failed (Kill)", StringComparison.Ordinal))];
        Assert.NotEmpty(kill);
        Assert.All(kill, l => Assert.StartsWith("│ ", l));
        Assert.Contains(lines, l => l.StartsWith("┌─log", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("ERROR", StringComparison.Ordinal) || l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        Assert.Matches(@"^summary: sent=\d+ received=\d+ lost=\d+ dropped=\d+ restarts=1 send-failures=\d+ memberships-restored=n/a$",
            lines.Last(l => l.StartsWith("summary: ", StringComparison.Ordinal)).TrimEnd());
    }
}
