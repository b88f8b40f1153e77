using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using Dgram.Actors.Tests.Actors;
using Dgram.Actors.Tests.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Lab;

/// <summary>
/// Where a test's log goes (<see cref="TestLog"/>): an unexpected error is in the test's output (which the runner
/// shows for a failing test), an error an EventFilter expects is nowhere, and nothing reaches the console.
/// Serial, because the console is swapped for a capture while each test runs.
/// </summary>
[Collection(SerialCollection.Name)]
[Trait("Area", "Lab")]
public sealed class TestLogTests : IDisposable
{
    private static readonly TimeSpan Arrival = TimeSpan.FromSeconds(5);

    private readonly TextWriter _console = Console.Out;
    private readonly StringWriter _captured = new();
    private readonly RecordingOutput _recorded = new();

    public TestLogTests()
    {
        LabNet.Require();
        Console.SetOut(TextWriter.Synchronized(_captured));
    }

    public void Dispose()
    {
        Console.SetOut(_console);
        _captured.Dispose();
    }

    /// <summary>An actor test base given the recording in place of the runner's output.</summary>
    private sealed class Kit(ITestOutputHelper output) : ActorTestBase(output);

    private sealed class Thrower : ReceiveActor
    {
        public Thrower() => Receive<string>(text => throw new InvalidOperationException(text));
    }

    private static string Marker(string what) => what + "-" + Guid.NewGuid().ToString("N");

    private string ConsoleText => _captured.ToString();

    [Fact]
    public void ActorTestBase_UnexpectedActorFailure_IsInTheTestOutputWithItsStackTrace_NotOnTheConsole()
    {
        string marker = Marker("unexpected");
        using (var kit = new Kit(_recorded))
        {
            kit.Sys.ActorOf(Props.Create(() => new Thrower())).Tell(marker);
            string line = _recorded.WaitFor(marker, Arrival);
            Assert.StartsWith("[ERROR]", line);
            Assert.Contains("at Dgram.Actors.Tests.Lab.TestLogTests.Thrower", line); // the cause's stack trace
        }
        Assert.Single(_recorded.Lines, l => l.Contains(marker));
        Assert.DoesNotContain(marker, ConsoleText);
    }

    [Fact]
    public void ActorTestBase_ErrorAnEventFilterExpects_IsNeitherInTheOutputNorOnTheConsole()
    {
        string expected = Marker("expected"), fence = Marker("fence");
        using (var kit = new Kit(_recorded))
        {
            IActorRef thrower = kit.Sys.ActorOf(Props.Create(() => new Thrower()));
            kit.EventFilter.Exception<InvalidOperationException>(contains: expected).Expect(1, () => thrower.Tell(expected));
            // Loggers take events in order: once the later error is written, the expected one had its chance.
            kit.Sys.Log.Error(fence);
            _recorded.WaitFor(fence, Arrival);
        }
        Assert.DoesNotContain(_recorded.Lines, l => l.Contains(expected));
        Assert.DoesNotContain(expected, ConsoleText);
    }

    [Fact]
    public void ActorTestBase_ErrorWhileNoLoggerRuns_GoesToTheTestOutput_NotTheConsole()
    {
        // Akka's minimal logger takes what is logged while no logger actor runs (the end of a shutdown).
        string marker = Marker("late");
        using (var kit = new Kit(_recorded))
        {
            kit.Sys.Settings.StdoutLogger.Tell(new Error(null, "late-source", typeof(TestLogTests), marker));
        }
        Assert.Contains(_recorded.Lines, l => l.StartsWith("[ERROR]", StringComparison.Ordinal) && l.Contains(marker));
        Assert.DoesNotContain(marker, ConsoleText);
    }

    [Fact]
    public void OwnActorSystem_UnexpectedError_IsInTheTestOutput_NotOnTheConsole()
    {
        string marker = Marker("own");
        using (ActorSystem system = TestLog.CreateSystem("own", _recorded))
        {
            system.ActorOf(Props.Create(() => new Thrower())).Tell(marker);
            Assert.StartsWith("[ERROR]", _recorded.WaitFor(marker, Arrival));
        }
        Assert.DoesNotContain(marker, ConsoleText);
    }

    [Fact]
    public async Task Host_AkkaErrorAndHostError_AreInTheTestOutput_NotOnTheConsole()
    {
        string akkaMarker = Marker("hosted-akka"), hostMarker = Marker("hosted-ilogger");
        using IHost host = Host.CreateDefaultBuilder()
            .ConfigureLogging(l => l.LogToTestOutput(_recorded))
            .ConfigureServices(services => services.AddAkka("logged-host-" + LabNet.NextPort(), (akka, _) => akka.LogToTestOutput(_recorded)))
            .Build();
        await host.StartAsync();
        host.Services.GetRequiredService<ActorSystem>().ActorOf(Props.Create(() => new Thrower())).Tell(akkaMarker);
        host.Services.GetRequiredService<ILogger<TestLogTests>>().LogError("{Marker}", hostMarker);

        Assert.StartsWith("[ERROR]", _recorded.WaitFor(akkaMarker, Arrival));
        Assert.StartsWith("[Error]", _recorded.WaitFor(hostMarker, Arrival));
        await host.StopAsync();
        Assert.DoesNotContain(akkaMarker, ConsoleText);
        Assert.DoesNotContain(hostMarker, ConsoleText);
    }

    /// <summary>An <see cref="ITestOutputHelper"/> that keeps its lines, to assert on what a test's output holds.</summary>
    private sealed class RecordingOutput : ITestOutputHelper
    {
        private readonly List<string> _lines = [];

        public IReadOnlyList<string> Lines
        {
            get { lock (_lines) return _lines.ToArray(); }
        }

        public void WriteLine(string message)
        {
            lock (_lines)
            {
                _lines.Add(message);
                Monitor.PulseAll(_lines);
            }
        }

        public void WriteLine(string format, params object[] args) => WriteLine(string.Format(format, args));

        /// <summary>The first line holding <paramref name="text"/>; fails when none comes in time.</summary>
        public string WaitFor(string text, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            lock (_lines)
            {
                while (true)
                {
                    string? line = _lines.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal));
                    if (line is not null) return line;
                    TimeSpan left = deadline - DateTime.UtcNow;
                    Assert.True(left > TimeSpan.Zero, $"no line with '{text}' reached the test output; it holds:\n{string.Join("\n", _lines)}");
                    Monitor.Wait(_lines, left);
                }
            }
        }
    }
}
