using FsCheck.Fluent;
using Xunit;

namespace Dgram.Actors.Tests.Reliability;

/// <summary>
/// The generator is worth its runtime only if the sequences reach the kernel's interesting paths: this
/// runs the model (no kernel) over as many sequences as the properties try in one run and asserts that
/// every error and every mode path occurs, so a generator change that stops exercising one fails here.
/// </summary>
[Trait("Area", "Reliability")]
public sealed class StepGeneratorTests
{
    [Fact]
    public void GeneratedSequences_ReachEveryOutcomeAndKernelPath_OfTheModel()
    {
        var seen = new HashSet<string>();
        foreach (StepSequence sequence in StepArbitraries.Sequences().Generator.Sample(50, new FsCheck.Rnd(20261125UL), 2 * 100 + 2 * 30))
        {
            var model = new MulticastModel();
            foreach (Step step in sequence.Steps)
            {
                string outcome = model.Apply(step);
                seen.Add($"{step.Kind} {(outcome.StartsWith("error", StringComparison.Ordinal) ? outcome : "ok")}");
            }
            seen.UnionWith(model.Paths);
        }
        string[] wanted =
        [
            "Join ok", "Join error EADDRINUSE", "Leave ok", "Leave error EADDRNOTAVAIL",
            "JoinSource ok", "JoinSource error EINVAL", "JoinSource error EADDRNOTAVAIL",
            "LeaveSource ok", "LeaveSource error EINVAL", "LeaveSource error EADDRNOTAVAIL",
            "Block ok", "Block error EINVAL", "Block error EADDRNOTAVAIL",
            "Unblock ok", "Unblock error EINVAL", "Unblock error EADDRNOTAVAIL",
            "SetTtl ok", "SetTtl error OutOfRange", "SetLoop ok", "SetInterface ok",
            "empty filter switched to Include", "empty filter switched to Exclude",
            "empty filter switched to Include by a failing removal", "last included source left the group",
            "exclude list emptied, kept",
        ];
        string[] missing = [.. wanted.Except(seen)];
        Assert.True(missing.Length == 0, "never reached: " + string.Join("; ", missing));
    }
}
