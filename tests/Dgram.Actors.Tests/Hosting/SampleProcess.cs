using System.Diagnostics;
using Dgram.Actors.Tests.Lab;

namespace Dgram.Actors.Tests.Hosting;

/// <summary>The built sample (samples/Dgram.Sample) run as a process inside the test namespace, bounded in time.</summary>
internal static class SampleProcess
{
    /// <summary>The repository: tests/Dgram.Actors.Tests/bin/&lt;Configuration&gt;/net10.0 is five levels down.</summary>
    public static string Root { get; } = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Parent!.Parent!.Parent!.Parent!.FullName;

    /// <summary>Dgram.Sample.dll of the configuration these tests were built in.</summary>
    public static string Dll
    {
        get
        {
            string configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Name;
            string dll = Path.Combine(Root, "samples", "Dgram.Sample", "bin", configuration, "net10.0", "Dgram.Sample.dll");
            if (!File.Exists(dll)) throw new FileNotFoundException($"sample not built at {dll}");
            return dll;
        }
    }

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public IReadOnlyList<string> StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

        public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
    }

    /// <summary>Runs <c>dotnet Dgram.Sample.dll ARGS</c>; a run that outlives <paramref name="bound"/> is killed and fails.</summary>
    public static Task<Result> Run(TimeSpan bound, params string[] args) => Start("dotnet", [Dll, .. args], bound, environment: null);

    /// <summary>
    /// Runs the sample on a pseudo-terminal (<c>script</c>), as <c>./run.sh</c> in a terminal does: stdout and
    /// stderr arrive together, with the live table's escape sequences.
    /// </summary>
    public static Task<Result> RunInTerminal(TimeSpan bound, params string[] args)
    {
        string command = string.Join(' ', new[] { "dotnet", Dll }.Concat(args).Select(a => "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));
        return Start("script", ["-qec", command, "/dev/null"], bound, new() { ["TERM"] = "xterm-256color" });
    }

    /// <summary>The loopback configuration with fresh ports and groups, so that runs beside other tests share nothing.</summary>
    public static string FreshLoopbackConfig(Func<string, string>? edit = null)
    {
        string json = File.ReadAllText(Path.Combine(Root, "samples", "Dgram.Sample", "appsettings.loopback.json"))
            .Replace("239.255.10.1", LabFamily.V4.NewGroup().ToString(), StringComparison.Ordinal)
            .Replace("232.10.0.1", LabFamily.V4.NewSsmGroup().ToString(), StringComparison.Ordinal)
            .Replace("5100", LabNet.NextPort().ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("5101", LabNet.NextPort().ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        string path = Path.Combine(Path.GetTempPath(), $"dgram-sample-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, edit is null ? json : edit(json));
        return path;
    }

    private static async Task<Result> Start(string file, string[] args, TimeSpan bound, Dictionary<string, string>? environment)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string a in args) psi.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? []) psi.Environment[name] = value;
        using var p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync(), stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(bound);
        try
        {
            await p.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not end in {bound.TotalSeconds} s:\n{await stdout}\n{await stderr}");
        }
        return new Result(p.ExitCode, await stdout, await stderr);
    }
}
