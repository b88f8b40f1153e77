using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Lab;

/// <summary>
/// <see cref="LabProcess"/>, the harness that will run the cluster bridge's nodes on lab hosts (issue 16, items 7
/// and 9), with small shell and python programs: it runs the program itself in the namespace, captures its lines,
/// signals its whole process group, and restarts it after an exit on its own but not after a stop.
/// </summary>
[Trait("Area", "Lab")]
public sealed partial class LabProcessTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Arrival = TimeSpan.FromSeconds(5);
    private readonly LabSite _site = Lab();

    private static LabSite Lab()
    {
        LabNet.Require();
        return new LabSite();
    }

    public void Dispose() => _site.Dispose();

    private LabProcess Start(LabNamespace ns, string script, TimeSpan? restartDelay = null) =>
        new(ns, output, ["sh", "-c", script], restartDelay);

    [Fact]
    public async Task Start_RunsTheProgramItself_InTheNamespace()
    {
        using LabHost host = _site.AddHost();
        using LabProcess p = Start(host, "echo pid $$; ip -o link show; exec cat");

        // The shell's own pid is the one started: setsid and nsenter exec'd into it instead of forking.
        Assert.Equal($"pid {p.Pid}", await p.WaitForLine(PidLine(), Arrival));
        Assert.Equal(host.Namespace, LabNamespace.TryNamespaceOf(p.Pid));
        await p.WaitForLine(new Regex($@"^\d+: {host.Interface}@"), Arrival); // an interface only that namespace has
    }

    [Fact]
    public async Task WaitForLine_FindsAnyLineSoFar_OrFromAMarkOnlyLaterOnes()
    {
        using LabProcess p = Start(_site, "echo oops >&2; echo hello 0; while read x; do echo hello $x; done");
        Assert.Equal("hello 0", await p.WaitForLine(Hello(), Arrival));

        long mark = p.Mark();
        p.WriteLine("1");
        Assert.Equal("hello 1", await p.WaitForLine(Hello(), mark, Arrival));
        Assert.Equal("hello 0", await p.WaitForLine(Hello(), Arrival)); // from the start: the first one again

        await p.WaitForLine(new Regex("^oops$"), Arrival);
        Assert.Contains(p.Lines, l => l is { Text: "oops", IsError: true, Incarnation: 1 });
        Assert.Contains(p.Lines, l => l is { Text: "hello 1", IsError: false, Incarnation: 1 });
    }

    [Fact]
    public async Task WaitForLine_TimesOut_WithTheLastTwentyLines()
    {
        using LabProcess p = Start(_site, "for i in $(seq 1 30); do echo line$i; done; exec cat");
        await p.WaitForLine(new Regex("^line30$"), Arrival);

        var e = await Assert.ThrowsAsync<TimeoutException>(() => p.WaitForLine(new Regex("^never$"), TimeSpan.FromMilliseconds(100)));

        Assert.Contains("/^never$/", e.Message);
        Assert.Matches(new Regex(": line11$", RegexOptions.Multiline), e.Message);
        Assert.Matches(new Regex(": line30$", RegexOptions.Multiline), e.Message);
        Assert.DoesNotMatch(new Regex(": line10$", RegexOptions.Multiline), e.Message);
    }

    [Fact]
    public async Task WaitForLine_FailsAtOnce_WhenTheProgramHasExitedForGood()
    {
        using LabProcess p = Start(_site, "echo only; exit 4");
        Assert.Equal(4, await p.Exited.WaitAsync(Arrival));

        // Not a TimeoutException after 30 s: nothing more can come.
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => p.WaitForLine(new Regex("^never$"), TimeSpan.FromSeconds(30)));
        Assert.Contains("exited with code 4", e.Message);
        Assert.Contains("#1: only", e.Message);
    }

    [Fact]
    public async Task Kill_KillsTheWholeProcessGroup()
    {
        using LabProcess p = Start(_site, "sleep 30 & echo child $!; wait");
        int child = int.Parse(ChildLine().Match(await p.WaitForLine(ChildLine(), Arrival)).Groups[1].Value);

        p.Kill();

        Assert.Equal(128 + 9, await p.Exited.WaitAsync(Arrival));
        // The child got SIGKILL too (it held the output pipe, so Exited came only after it died): gone, or a
        // zombie whoever adopted it has not reaped yet.
        Assert.True(SpinWait.SpinUntil(() => State(child) is null or 'Z', Arrival), $"child {child} still {State(child)}");
    }

    [Fact]
    public async Task Terminate_StopsGracefully_AndIsNotRestarted()
    {
        using LabProcess p = Start(_site, "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.01; done", restartDelay: TimeSpan.FromMilliseconds(50));
        await p.WaitForLine(new Regex("^ready$"), Arrival);

        p.Terminate();

        // Exited completes only once the supervisor has decided not to start the program again.
        Assert.Equal(0, await p.Exited.WaitAsync(Arrival));
        Assert.Contains(p.Lines, l => l.Text == "bye");
        Assert.Equal(0, p.Restarts);
    }

    [Fact]
    public async Task ExitOnItsOwn_AndKill_AreRestarted_WithTheSameCommand()
    {
        using LabProcess p = Start(_site, "echo up $$; read x; exit 3", restartDelay: TimeSpan.FromMilliseconds(50));
        LabLine first = await p.WaitFor(Up(), 0, Arrival);

        long mark = p.Mark();
        p.WriteLine("exit now");
        LabLine second = await p.WaitFor(Up(), mark, Arrival);

        mark = p.Mark();
        p.Kill();
        LabLine third = await p.WaitFor(Up(), mark, Arrival);

        Assert.Equal((1, 2, 3), (first.Incarnation, second.Incarnation, third.Incarnation));
        Assert.Equal(2, p.Restarts);
        Assert.Equal($"up {p.Pid}", third.Text);
        Assert.Equal(3, new[] { first.Text, second.Text, third.Text }.Distinct().Count()); // three processes
        Assert.False(p.Exited.IsCompleted);

        p.Dispose();
        Assert.Equal(128 + 9, await p.Exited);
        Assert.Equal(2, p.Restarts);
    }

    [Fact]
    public async Task Freeze_StopsTheProgram_ThawResumesIt()
    {
        // Prints a counter and CLOCK_MONOTONIC (the clock of Stopwatch on Linux) every 5 ms.
        using var p = new LabProcess(_site, output,
            ["python3", "-u", "-c", "import itertools, time\nfor i in itertools.count():\n    print(i, time.monotonic_ns(), flush=True)\n    time.sleep(0.005)"]);
        Assert.Equal(1_000_000_000, Stopwatch.Frequency); // its timestamps are CLOCK_MONOTONIC nanoseconds too
        await p.WaitFor(Tick(), 0, Arrival);

        p.Freeze(); // returns once /proc shows the program stopped
        long frozenAt = Stopwatch.GetTimestamp();
        await Task.Delay(300); // the span it stays frozen: 60 print periods
        long thawedAt = Stopwatch.GetTimestamp();
        p.Thaw();

        LabLine line;
        long since = 0;
        do
        {
            line = await p.WaitFor(Tick(), since, Arrival);
            since = line.Number + 1;
        }
        while (Time(line) < thawedAt);

        // Its clock readings jump over the frozen span between two consecutive counts: it took none in between.
        // Running, it would have printed about 60 lines stamped inside the span, and no pair would straddle it.
        LabLine[] ticks = [.. p.Lines.Where(l => Tick().IsMatch(l.Text))];
        Assert.Contains(ticks.Zip(ticks.Skip(1)), pair =>
            Count(pair.Second) == Count(pair.First) + 1 && Time(pair.First) <= frozenAt && Time(pair.Second) >= thawedAt);
    }

    private static long Count(LabLine l) => long.Parse(Tick().Match(l.Text).Groups[1].Value);

    private static long Time(LabLine l) => long.Parse(Tick().Match(l.Text).Groups[2].Value);

    /// <summary>A process's state letter from /proc/PID/stat, or null when it is gone.</summary>
    private static char? State(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[stat.LastIndexOf(')') + 2];
        }
        catch (IOException)
        {
            return null;
        }
    }

    [GeneratedRegex(@"^pid \d+$")]
    private static partial Regex PidLine();

    [GeneratedRegex(@"^hello")]
    private static partial Regex Hello();

    [GeneratedRegex(@"^child (\d+)$")]
    private static partial Regex ChildLine();

    [GeneratedRegex(@"^up \d+$")]
    private static partial Regex Up();

    [GeneratedRegex(@"^(\d+) (\d+)$")]
    private static partial Regex Tick();
}
