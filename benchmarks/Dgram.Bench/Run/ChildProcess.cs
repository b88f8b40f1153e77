using System.Diagnostics;
using System.Globalization;

namespace Dgram.Bench.Run;

/// <summary>
/// A process pinned to one core with <c>taskset</c>, spoken to in lines: the C programs and this program's
/// child modes. Its stderr passes through to ours.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _name;

    private ChildProcess(Process process, string name)
    {
        _process = process;
        _name = name;
    }

    public int Id => _process.Id;

    /// <summary>The C program <paramref name="program"/> from the native folder, pinned to <paramref name="core"/>.</summary>
    public static ChildProcess Native(int core, string program, params IEnumerable<string> args) =>
        Start(core, Path.Combine(Bench.NativeDirectory, program), args);

    /// <summary>This program in a child mode (<c>receive</c>, <c>send</c>, <c>rtt</c>, <c>scale</c>), pinned to <paramref name="core"/> (null: every online core).</summary>
    public static ChildProcess Managed(int? core, string mode, params IEnumerable<string> args) =>
        Start(core, "dotnet", [typeof(ChildProcess).Assembly.Location, mode, .. args]);

    private static ChildProcess Start(int? core, string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("taskset")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false,
        };
        // Always explicit: the orchestrator itself is pinned, and a child would inherit its core.
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(core?.ToString(CultureInfo.InvariantCulture) ?? File.ReadAllText("/sys/devices/system/cpu/online").Trim());
        psi.ArgumentList.Add(file);
        foreach (string a in args) psi.ArgumentList.Add(a);
        string name = Path.GetFileName(file) + " " + string.Join(' ', args.Take(3));
        return new ChildProcess(Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {name}"), name);
    }

    /// <summary>The next line of output; an exit or a silence past the timeout is an error naming the child.</summary>
    public async Task<string> ReadLineAsync(TimeSpan? timeout = null)
    {
        string? line = await _process.StandardOutput.ReadLineAsync().WaitAsync(timeout ?? TimeSpan.FromSeconds(60));
        return line ?? throw new InvalidOperationException($"{_name} ended (exit code {(_process.WaitForExit(5000) ? _process.ExitCode : -1)})");
    }

    /// <summary>Waits for the child's <c>ready</c> line.</summary>
    public async Task ReadyAsync()
    {
        string line = await ReadLineAsync();
        if (!line.StartsWith("ready", StringComparison.Ordinal)) throw new InvalidOperationException($"{_name}: expected 'ready', got '{line}'");
    }

    /// <summary>Sends one line and reads the answer as key=value pairs.</summary>
    public async Task<Fields> AskAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
        return Fields.Parse(await ReadLineAsync());
    }

    /// <summary>Reads everything until the child exits (one-shot programs such as <c>pace</c>); a child silent past the timeout is killed.</summary>
    public async Task<string> OutputAsync(TimeSpan? timeout = null)
    {
        using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(5));
        string output;
        try
        {
            output = await _process.StandardOutput.ReadToEndAsync(limit.Token);
            await _process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{_name} did not finish within {timeout ?? TimeSpan.FromMinutes(5)}");
        }
        if (_process.ExitCode != 0) throw new InvalidOperationException($"{_name} failed with exit code {_process.ExitCode}");
        return output;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                await _process.StandardInput.WriteLineAsync("quit");
                _process.StandardInput.Close();
            }
            catch (IOException)
            {
            }
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        _process.Dispose();
    }
}

/// <summary>A line of <c>key=value</c> pairs (the children's answers).</summary>
internal sealed class Fields
{
    private readonly Dictionary<string, string> _values;

    private Fields(Dictionary<string, string> values) => _values = values;

    public static Fields Parse(string line) => new(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)
        .Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]));

    public double this[string key] => _values.TryGetValue(key, out string? v)
        ? double.Parse(v, CultureInfo.InvariantCulture)
        : throw new InvalidOperationException($"no '{key}' in the child's answer ({string.Join(' ', _values.Select(kv => kv.Key + "=" + kv.Value))})");

    public double Get(string key, double fallback) => _values.ContainsKey(key) ? this[key] : fallback;
}
