using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Event;
using Akka.Hosting;
using Akka.TestKit;
using Akka.Util;
using Microsoft.Extensions.Logging;
using AkkaLogLevel = Akka.Event.LogLevel;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Lab;

/// <summary>
/// Where a test's log goes: every actor system a test makes (its TestKit system, a system of its own, a host's)
/// and a host's <see cref="ILogger"/>s write to the test's <see cref="ITestOutputHelper"/>, which the runner
/// shows with a failing test and keeps out of a green run. Nothing goes to the console, so an expected fault
/// stays quiet and an unexpected one is in the failing test's output. An expected error a test asserts with
/// <c>EventFilter.Error(...).Expect(...)</c> is consumed by the filter and printed nowhere.
/// </summary>
public static class TestLog
{
    /// <summary>
    /// The loggers of every test actor system: <see cref="TestOutputListener"/> instead of Akka's stdout logger, and
    /// <see cref="TestOutputStdoutLogger"/> for what Akka logs while no logger runs (the end of a system's shutdown).
    /// </summary>
    public static readonly Config Config = ConfigurationFactory.ParseString(
        $"""
        akka.loggers = ["{typeof(TestOutputListener).AssemblyQualifiedName}"]
        akka.stdout-logger-class = "{typeof(TestOutputStdoutLogger).AssemblyQualifiedName}"
        """);

    /// <summary>The setup of a test actor system: <paramref name="config"/> over <see cref="Config"/>, and the output to log to.</summary>
    public static ActorSystemSetup Setup(ITestOutputHelper output, string config = "") =>
        BootstrapSetup.Create()
            .WithConfig(ConfigurationFactory.ParseString(config).WithFallback(Config))
            .And(new TestOutputSetup(output));

    /// <summary>An actor system a test makes outside the TestKit, logging to the test's output. Dispose it in the test.</summary>
    public static ActorSystem CreateSystem(string name, ITestOutputHelper output, string config = "") =>
        ActorSystem.Create(name, Setup(output, config));

    /// <summary>A hosted actor system (Akka.Hosting) that logs to the test's output.</summary>
    public static AkkaConfigurationBuilder LogToTestOutput(this AkkaConfigurationBuilder akka, ITestOutputHelper output) =>
        akka.AddSetup(new TestOutputSetup(output))
            .AddHocon(Config, HoconAddMode.Prepend)
            .ConfigureLoggers(l => l.ClearLoggers().AddLogger<TestOutputListener>());

    /// <summary>A host's <see cref="ILogger"/>s write to the test's output (and nowhere else).</summary>
    public static ILoggingBuilder LogToTestOutput(this ILoggingBuilder logging, ITestOutputHelper output) =>
        logging.ClearProviders().AddProvider(new TestOutputLoggerProvider(output));

    /// <summary>
    /// Writes one line to the test's output. After the test has ended the output refuses lines; a warning or
    /// error then goes to the console (something outlived its test, which is itself worth seeing).
    /// </summary>
    internal static void Write(ITestOutputHelper? output, string line, bool severe)
    {
        if (output is null)
        {
            if (severe) StandardOutWriter.WriteLine("[no test output yet] " + line);
            return;
        }
        try
        {
            output.WriteLine(line);
        }
        catch (InvalidOperationException) when (severe)
        {
            StandardOutWriter.WriteLine("[after its test ended] " + line);
        }
        catch (InvalidOperationException)
        {
        }
    }
}

/// <summary>Carries the test's output to <see cref="TestOutputListener"/> through the actor system's settings.</summary>
public sealed class TestOutputSetup(ITestOutputHelper output) : Setup
{
    public ITestOutputHelper Output { get; } = output;
}

/// <summary>
/// Akka's <see cref="TestEventListener"/> (so <c>EventFilter</c> mutes and expectations work) printing what no
/// filter took to the test's output instead of stdout. A system without a <see cref="TestOutputSetup"/> fails to start.
/// </summary>
public sealed class TestOutputListener : TestEventListener
{
    private readonly ITestOutputHelper _output;

    public TestOutputListener()
    {
        Settings settings = Context.System.Settings;
        Option<TestOutputSetup> setup = settings.Setup.Get<TestOutputSetup>();
        _output = setup.HasValue
            ? setup.Value.Output
            : throw new InvalidOperationException(
                $"{nameof(TestOutputListener)} needs a {nameof(TestOutputSetup)}: make the actor system with {nameof(TestLog)}.{nameof(TestLog.Setup)} or {nameof(TestLog.CreateSystem)}");
        // The stdout logger is made before any actor and knows no system: this listener tells it where to write.
        if (settings.StdoutLogger is TestOutputStdoutLogger stdout) stdout.Output = _output;
    }

    protected override void Print(LogEvent logEvent) =>
        TestLog.Write(_output, logEvent.ToString(), logEvent.LogLevel() >= AkkaLogLevel.WarningLevel);
}

/// <summary>
/// Akka's minimal logger for the moments no logger actor runs (a system starting, and the end of its shutdown,
/// when errors of actors still stopping arrive), writing to the test's output once <see cref="TestOutputListener"/>
/// has told it which.
/// </summary>
public sealed class TestOutputStdoutLogger : MinimalLogger
{
    internal volatile ITestOutputHelper? Output;

    protected override void Log(object message) =>
        TestLog.Write(Output, message.ToString() ?? "", message is not LogEvent e || e.LogLevel() >= AkkaLogLevel.WarningLevel);
}

/// <summary>An <see cref="ILoggerProvider"/> writing a host's log lines to the test's output.</summary>
internal sealed class TestOutputLoggerProvider(ITestOutputHelper output) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new CategoryLogger(output, categoryName);

    public void Dispose()
    {
    }

    private sealed class CategoryLogger(ITestOutputHelper output, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            string line = $"[{logLevel}] {category}: {formatter(state, exception)}" + (exception is null ? "" : Environment.NewLine + exception);
            TestLog.Write(output, line, logLevel >= LogLevel.Warning);
        }
    }
}
