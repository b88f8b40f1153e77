using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Lab;

/// <summary>One line a <see cref="LabProcess"/> printed: its number since the start, which incarnation printed it, and from which stream.</summary>
public sealed record LabLine(long Number, int Incarnation, bool IsError, string Text)
{
    public override string ToString() => $"#{Incarnation}{(IsError ? " err" : "")}: {Text}";
}

/// <summary>
/// A long-running program inside a <see cref="LabNamespace"/> (a cluster node on a lab host, issue 16), started as
/// <c>setsid nsenter -t PID -n -- COMMAND</c>: both exec in place, so <see cref="Pid"/> is the program itself and
/// leads a process group of its own, and every signal goes to that group (a shell's children get it too).
/// <para>
/// Each stdout and stderr line is kept (the last <see cref="Capacity"/>) and written to the test's log, never to the
/// console. With a restart delay the process is a supervisor: a program that exits on its own (or by
/// <see cref="Kill"/>) is started again with the same command after the delay, its lines numbered as the next
/// incarnation; <see cref="Terminate"/> and <see cref="Dispose"/> stop it for good.
/// </para>
/// </summary>
public sealed partial class LabProcess : IDisposable
{
    /// <summary>How many lines are kept; older ones are dropped (their numbers are not reused).</summary>
    public const int Capacity = 10_000;

    private const int SIGKILL = 9, SIGTERM = 15, SIGCONT = 18, SIGSTOP = 19, ESRCH = 3;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private readonly LabNamespace _ns;
    private readonly ITestOutputHelper? _output;
    private readonly string[] _command;
    private readonly TimeSpan? _restartDelay;
    private readonly string _name;
    private readonly object _gate = new();
    private readonly Queue<LabLine> _lines = new();
    private readonly List<Waiter> _waiters = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _nextLine;
    private bool _stopping, _disposed;
    private Process _process;
    private Task _readers = Task.CompletedTask; // the current incarnation's stdout and stderr readers
    private int _incarnation = 1;

    /// <summary>
    /// Starts <paramref name="command"/> (program and arguments) in <paramref name="ns"/>, its lines logged to
    /// <paramref name="output"/>; returns once the program is in the namespace (or has already exited). With
    /// <paramref name="restartDelay"/>, an exit on its own starts it again after that delay.
    /// </summary>
    public LabProcess(LabNamespace ns, ITestOutputHelper? output, IReadOnlyList<string> command, TimeSpan? restartDelay = null)
    {
        if (command.Count == 0) throw new ArgumentException("a lab process needs a program to run", nameof(command));
        if (restartDelay < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(restartDelay), restartDelay, "a restart delay cannot be negative");
        _ns = ns;
        _output = output;
        _command = [.. command];
        _restartDelay = restartDelay;
        _name = Path.GetFileName(command[0]);
        _process = StartIncarnation();
        _ = SuperviseAsync();
    }

    /// <summary>The current incarnation's process id: the program itself (nsenter and setsid exec'd into it).</summary>
    public int Pid
    {
        get { lock (_gate) return _process.Id; }
    }

    /// <summary>How many times the program was started again after exiting on its own.</summary>
    public int Restarts
    {
        get { lock (_gate) return _incarnation - 1; }
    }

    /// <summary>
    /// The exit code once the program has exited for good (no restart policy, or after <see cref="Terminate"/> or
    /// <see cref="Dispose"/>), after its last lines were captured. A signal's death reads as 128 + the signal.
    /// </summary>
    public Task<int> Exited => _exited.Task;

    /// <summary>The lines kept so far, oldest first.</summary>
    public IReadOnlyList<LabLine> Lines
    {
        get { lock (_gate) return [.. _lines]; }
    }

    /// <summary>The number the next line will have: pass it to <see cref="WaitFor"/> to wait for a line printed after now.</summary>
    public long Mark()
    {
        lock (_gate) return _nextLine;
    }

    /// <summary>The first line matching <paramref name="pattern"/> printed since the start (by any incarnation).</summary>
    public async Task<string> WaitForLine(Regex pattern, TimeSpan timeout) => (await WaitFor(pattern, 0, timeout).ConfigureAwait(false)).Text;

    /// <summary>The first line matching <paramref name="pattern"/> numbered <paramref name="since"/> or later (see <see cref="Mark"/>).</summary>
    public async Task<string> WaitForLine(Regex pattern, long since, TimeSpan timeout) => (await WaitFor(pattern, since, timeout).ConfigureAwait(false)).Text;

    /// <summary>
    /// The first line matching <paramref name="pattern"/> numbered <paramref name="since"/> or later, kept or yet to
    /// come. Fails with <see cref="TimeoutException"/> after <paramref name="timeout"/>, or at once when the program
    /// has exited for good; either message ends with the last 20 lines.
    /// </summary>
    public async Task<LabLine> WaitFor(Regex pattern, long since, TimeSpan timeout)
    {
        var waiter = new Waiter(pattern, since);
        lock (_gate)
        {
            foreach (LabLine line in _lines)
            {
                if (waiter.Matches(line)) return line;
            }
            if (_exited.Task.IsCompleted) throw Failure(waiter, Ending());
            _waiters.Add(waiter);
        }
        try
        {
            return await waiter.Result.Task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            lock (_gate)
            {
                _waiters.Remove(waiter);
                throw Failure(waiter, $"timed out after {timeout.TotalSeconds:0.###} s", timeout: true);
            }
        }
    }

    /// <summary>Writes a line to the current incarnation's stdin.</summary>
    public void WriteLine(string line)
    {
        StreamWriter stdin;
        lock (_gate) stdin = _process.StandardInput;
        stdin.WriteLine(line);
        stdin.Flush();
    }

    /// <summary>SIGKILL to the program's process group. With a restart delay the program is started again.</summary>
    public void Kill() => Signal(SIGKILL);

    /// <summary>SIGTERM to the program's process group (a graceful stop); it is not started again.</summary>
    public void Terminate()
    {
        lock (_gate) _stopping = true;
        _stop.Cancel(); // a restart waiting for its delay does not happen
        Signal(SIGTERM);
    }

    /// <summary>SIGSTOP to the program's process group; returns once the program is seen stopped.</summary>
    public void Freeze()
    {
        Signal(SIGSTOP);
        AwaitState(stopped: true);
    }

    /// <summary>SIGCONT to the program's process group; returns once the program is seen running again.</summary>
    public void Thaw()
    {
        Signal(SIGCONT);
        AwaitState(stopped: false);
    }

    /// <summary>Kills the program (no restart) and waits, bounded, until it is gone.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = _stopping = true;
        }
        _stop.Cancel();
        Signal(SIGKILL);
        if (!_exited.Task.Wait(Bound)) throw new TimeoutException($"{Describe()}: still running {Bound.TotalSeconds} s after SIGKILL");
        lock (_gate) _process.Dispose();
        _stop.Dispose();
    }

    private Process StartIncarnation()
    {
        var psi = new ProcessStartInfo("setsid")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in (string[])["nsenter", "-t", _ns.Pid.ToString(), "-n", "--", .. _command]) psi.ArgumentList.Add(a);
        Process p = Process.Start(psi) ?? throw new InvalidOperationException($"{Describe()}: did not start");
        int incarnation = _incarnation;
        Task stdout = ReadAsync(p.StandardOutput, incarnation, isError: false), stderr = ReadAsync(p.StandardError, incarnation, isError: true);
        p.EnableRaisingEvents = true;
        _readers = Task.WhenAll(stdout, stderr);
        // setsid, then nsenter's setns, happen before the program runs: until the process is in the namespace a
        // group signal could miss it.
        string ns = _ns.Namespace;
        if (!SpinWait.SpinUntil(() => p.HasExited || LabNamespace.TryNamespaceOf(p.Id) == ns, Bound))
        {
            p.Kill();
            throw new InvalidOperationException($"{Describe()}: pid {p.Id} did not enter {ns} within {Bound.TotalSeconds} s");
        }
        Log($"started as pid {p.Id} in {ns}");
        return p;
    }

    private async Task SuperviseAsync()
    {
        while (true)
        {
            Process p;
            Task readers;
            lock (_gate) (p, readers) = (_process, _readers);
            await p.WaitForExitAsync().ConfigureAwait(false);
            // Lines still in the pipe belong to this incarnation; a child that outlived it and holds the pipe open
            // is not waited for past the bound.
            await Task.WhenAny(readers, Task.Delay(Bound)).ConfigureAwait(false);
            int code = p.ExitCode;
            bool restart;
            lock (_gate) restart = _restartDelay is not null && !_stopping;
            Log($"pid {p.Id} exited with code {code}" + (restart ? $", restarting in {_restartDelay!.Value.TotalMilliseconds} ms" : ""));
            if (restart)
            {
                try
                {
                    await Task.Delay(_restartDelay!.Value, _stop.Token).ConfigureAwait(false);
                    lock (_gate)
                    {
                        if (!_stopping)
                        {
                            _incarnation++;
                            _process = StartIncarnation();
                            continue;
                        }
                    }
                }
                catch (OperationCanceledException)
                {
                }
                catch (Exception e)
                {
                    Finish(e);
                    return;
                }
            }
            Finish(code);
            return;
        }
    }

    private void Finish(object outcome)
    {
        List<Waiter> waiting;
        lock (_gate)
        {
            if (outcome is int code) _exited.TrySetResult(code);
            else _exited.TrySetException((Exception)outcome);
            waiting = [.. _waiters];
            _waiters.Clear();
        }
        foreach (Waiter w in waiting) w.Result.TrySetException(Failure(w, Ending()));
    }

    private string Ending() => _exited.Task.IsCompletedSuccessfully
        ? $"exited with code {_exited.Task.Result}"
        : $"could not be restarted: {_exited.Task.Exception?.InnerException?.Message}";

    private async Task ReadAsync(StreamReader reader, int incarnation, bool isError)
    {
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { } text)
        {
            LabLine line;
            List<Waiter>? matched = null;
            lock (_gate)
            {
                line = new LabLine(_nextLine++, incarnation, isError, text);
                _lines.Enqueue(line);
                if (_lines.Count > Capacity) _lines.Dequeue();
                foreach (Waiter w in _waiters)
                {
                    if (w.Matches(line)) (matched ??= []).Add(w);
                }
                if (matched is not null) _waiters.RemoveAll(matched.Contains);
            }
            TestLog.Write(_output, $"[{_name} {line}]", severe: false);
            if (matched is null) continue;
            foreach (Waiter w in matched) w.Result.TrySetResult(line);
        }
    }

    /// <summary>
    /// Signals the process group, or the process alone before setsid made the group (only possible before the
    /// constructor returned). A process that has exited gets nothing: its pid may belong to another by now.
    /// </summary>
    private void Signal(int signal)
    {
        Process p;
        lock (_gate) p = _process;
        if (p.HasExited) return;
        if (kill(-p.Id, signal) == 0) return;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == ESRCH && kill(p.Id, signal) == 0) return;
        errno = Marshal.GetLastPInvokeError();
        if (errno != ESRCH) throw new InvalidOperationException($"{Describe()}: kill({p.Id}, {signal}) failed: errno {errno}");
    }

    /// <summary>Waits (bounded) until /proc shows the program stopped (state T) or not; an exited program ends the wait.</summary>
    private void AwaitState(bool stopped)
    {
        Process p;
        lock (_gate) p = _process;
        if (!SpinWait.SpinUntil(() => p.HasExited || IsStopped(p.Id) == stopped, Bound))
        {
            throw new TimeoutException($"{Describe()}: pid {p.Id} not {(stopped ? "stopped" : "running")} within {Bound.TotalSeconds} s");
        }
    }

    private static bool IsStopped(int pid)
    {
        try
        {
            // /proc/PID/stat: "pid (comm) S ...": the state follows the last ')' (comm may hold one).
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[stat.LastIndexOf(')') + 2] == 'T';
        }
        catch (IOException)
        {
            return false;
        }
    }

    private Exception Failure(Waiter w, string why, bool timeout = false)
    {
        string last;
        lock (_gate) last = string.Join(Environment.NewLine, _lines.TakeLast(20));
        string message = $"{Describe()}: no line matching /{w.Pattern}/ numbered {w.Since} or later: {why}. Last lines:{Environment.NewLine}{last}";
        return timeout ? new TimeoutException(message) : new InvalidOperationException(message);
    }

    private string Describe() => $"{string.Join(' ', _command)} in namespace of pid {_ns.Pid}";

    private void Log(string text) => TestLog.Write(_output, $"[{_name}] {text}", severe: false);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);

    private sealed class Waiter(Regex pattern, long since)
    {
        public Regex Pattern { get; } = pattern;
        public long Since { get; } = since;
        public TaskCompletionSource<LabLine> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Matches(LabLine line) => line.Number >= Since && Pattern.IsMatch(line.Text);
    }
}
