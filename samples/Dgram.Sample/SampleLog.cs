using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Dgram.Sample;

/// <summary>
/// The sample's only log sink: its own lines and Akka's (routed through <c>ILogger</c>), in one format,
/// <c>HH:mm:ss.fff LEVEL category: message</c>, an exception as its type and message (no stack trace: the
/// faults here are injected on purpose). Lines logged while the host starts are held: a failed start is
/// reported once, by the exception that names the setting, and the held lines (which say the same) are
/// dropped; a good start prints them. While the live table is on screen, lines go to a panel under it
/// instead of the terminal, where they would tear the table.
/// </summary>
internal sealed partial class SampleLog : ILoggerProvider
{
    private const int PanelSize = 6;
    private readonly object _lock = new();
    private readonly List<string> _held = [];
    private readonly Queue<string> _panel = new();
    private Sink _sink = Sink.Held;

    private enum Sink { Held, Stderr, Panel }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName[(categoryName.LastIndexOf('.') + 1)..]);

    /// <summary>The host started: print the held lines, and every later one.</summary>
    public void Release() => Switch(Sink.Stderr, print: true);

    /// <summary>The host failed to start: its one message says what the held lines say.</summary>
    public void Discard() => Switch(Sink.Stderr, print: false);

    /// <summary>The live table is on screen (true) or gone (false).</summary>
    public void Live(bool on) => Switch(on ? Sink.Panel : Sink.Stderr, print: true);

    /// <summary>The latest lines for the panel under the live table.</summary>
    public IReadOnlyList<string> Recent
    {
        get { lock (_lock) return [.. _panel]; }
    }

    private void Switch(Sink sink, bool print)
    {
        lock (_lock)
        {
            if (print) foreach (string line in _held) Console.Error.WriteLine(line);
            _held.Clear();
            _sink = sink;
        }
    }

    private void Write(string line)
    {
        lock (_lock)
        {
            switch (_sink)
            {
                case Sink.Held:
                    _held.Add(line);
                    break;
                case Sink.Panel:
                    _panel.Enqueue(line);
                    while (_panel.Count > PanelSize) _panel.Dequeue();
                    break;
                default:
                    Console.Error.WriteLine(line);
                    break;
            }
        }
    }

    /// <summary>
    /// Akka's lines reach <c>ILogger</c> already formatted by Akka, "[WARNING][time][Thread 0007][akka://sys/user/x] text":
    /// keep the text, and the actor path (without the system) in place of the category.
    /// </summary>
    [GeneratedRegex(@"^\[[A-Z]+\]\[[^\]]*\]\[Thread \d+\]\[(?:akka://[^/\]]*)?(?<source>[^\]]*)\] ")]
    private static partial Regex AkkaPrefix();

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "TRACE",
        LogLevel.Debug => "DEBUG",
        LogLevel.Information => "INFO ",
        LogLevel.Warning => "WARN ",
        LogLevel.Error => "ERROR",
        _ => "CRIT ",
    };

    public void Dispose()
    {
    }

    private sealed class Logger(SampleLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string message = formatter(state, exception), source = category;
            if (AkkaPrefix().Match(message) is { Success: true } akka)
            {
                source = akka.Groups["source"].Value;
                message = message[akka.Length..];
            }
            if (exception is not null && !message.Contains(exception.Message, StringComparison.Ordinal))
            {
                message += $" ({exception.GetType().Name}: {exception.Message})";
            }
            log.Write($"{DateTime.Now.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} {Level(logLevel)} {source}: {message}");
        }
    }
}
