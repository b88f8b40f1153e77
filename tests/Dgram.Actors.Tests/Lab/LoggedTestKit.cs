using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Lab;

/// <summary>
/// Akka's xUnit TestKit whose actor system logs to the test's output only (<see cref="TestLog"/>): expected
/// faults stay out of a green run's console, unexpected ones are in the failing test's output.
/// </summary>
public abstract class LoggedTestKit : Akka.TestKit.Xunit2.TestKit
{
    /// <summary>The test's output (the TestKit's own field stays null: given the output, it would add a second logger that ignores EventFilter).</summary>
    protected new ITestOutputHelper Output { get; }

    protected LoggedTestKit(ITestOutputHelper output, string config = "")
        : base(TestLog.Setup(output, config), "test", null)
    {
        Output = output;
    }
}
