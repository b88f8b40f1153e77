using FsCheck;
using FsCheck.Fluent;

namespace Dgram.Actors.Tests.Reliability;

/// <summary>A generated sequence of steps; printed one numbered step a line.</summary>
public sealed class StepSequence(Step[] steps)
{
    public Step[] Steps { get; } = steps;

    public override string ToString() => Format(Steps, killAt: null);

    internal static string Format(Step[] steps, int? killAt)
    {
        var lines = new List<string> { $"{steps.Length} steps:" };
        for (int i = 0; i <= steps.Length; i++)
        {
            if (i == killAt) lines.Add("   -- kill the incarnation --");
            if (i < steps.Length) lines.Add($"  {i + 1,2}. {steps[i]}");
        }
        return string.Join(Environment.NewLine, lines);
    }
}

/// <summary>A sequence with the socket's incarnation killed before step <see cref="KillAt"/> (0-based; Length: after the last).</summary>
public sealed class KillSequence(Step[] steps, int killAt)
{
    public Step[] Steps { get; } = steps;
    public int KillAt { get; } = killAt;

    public override string ToString() => StepSequence.Format(Steps, KillAt);
}

/// <summary>
/// Generators and shrinkers. Shrinking removes steps (halves, quarters, ... then single steps), so a
/// failure ends as a short sequence that still fails; the kill point moves with the steps removed before it.
/// </summary>
public static class StepArbitraries
{
    public const int MaxSteps = 50;
    private static readonly int[] Ttls = [-2, -1, 0, 1, 2, 64, 255, 256];

    /// <summary>
    /// Any-source groups (A0, A1) are likelier for joins and blocks, source-specific ones (S0, S1) for source
    /// joins, lab0a more than lab1a, and joins more than leaves, so that memberships live long enough for
    /// blocks, duplicates and mode switches on them; every mix can still occur
    /// (<see cref="StepGeneratorTests"/> checks that every kernel path is reached).
    /// </summary>
    private static readonly Gen<int> AsmLeaning = Gen.Frequency((3, Gen.Constant(0)), (2, Gen.Constant(1)), (1, Gen.Elements(2, 3)));
    private static readonly Gen<int> SsmLeaning = Gen.Frequency((1, Gen.Elements(0, 1)), (3, Gen.Constant(2)), (2, Gen.Constant(3)));
    private static readonly Gen<int> Interface = Gen.Frequency((3, Gen.Constant(0)), (1, Gen.Constant(1)));
    private static readonly Gen<int> Source = Gen.Frequency((2, Gen.Constant(0)), (2, Gen.Constant(1)), (1, Gen.Constant(2)));

    private static Gen<Step> Membership(StepKind kind, Gen<int> groups) =>
        from g in groups
        from i in Interface
        select new Step(kind, Group: g, Interface: i);

    private static Gen<Step> SourceChange(StepKind kind, Gen<int> groups) =>
        from g in groups
        from src in Source
        from i in Interface
        select new Step(kind, Group: g, Source: src, Interface: i);

    public static readonly Gen<Step> StepGen = Gen.Frequency(
        (2, Gen.Elements(0, 1).Select(v => new Step(StepKind.SetLoop, Value: v))),
        (2, Gen.Elements(Ttls).Select(v => new Step(StepKind.SetTtl, Value: v))),
        (2, Gen.Elements(-1, 0, 1).Select(v => new Step(StepKind.SetInterface, Value: v))),
        (1, Gen.Elements(StepKind.GetLoop, StepKind.GetTtl, StepKind.GetInterface).Select(k => new Step(k))),
        (4, Membership(StepKind.Join, AsmLeaning)),
        (2, Membership(StepKind.Leave, AsmLeaning)),
        (4, SourceChange(StepKind.Block, AsmLeaning)),
        (3, SourceChange(StepKind.Unblock, AsmLeaning)),
        (5, SourceChange(StepKind.JoinSource, SsmLeaning)),
        (3, SourceChange(StepKind.LeaveSource, SsmLeaning)));

    private static readonly Gen<Step[]> StepsGen =
        Gen.Choose(1, MaxSteps).SelectMany(n => StepGen.ArrayOf(n));

    /// <summary>Smaller lists first: whole chunks removed, then single steps.</summary>
    public static IEnumerable<Step[]> ShrinkSteps(Step[] steps)
    {
        for (int chunk = steps.Length / 2; chunk >= 1; chunk /= 2)
        {
            for (int start = 0; start + chunk <= steps.Length; start += chunk)
            {
                yield return [.. steps[..start], .. steps[(start + chunk)..]];
            }
        }
    }

    public static Arbitrary<StepSequence> Sequences() =>
        Arb.From(StepsGen.Select(s => new StepSequence(s)), seq => ShrinkSteps(seq.Steps).Select(s => new StepSequence(s)));

    public static Arbitrary<KillSequence> KillSequences() =>
        Arb.From(
            StepsGen.SelectMany(s => Gen.Choose(0, s.Length).Select(k => new KillSequence(s, k))),
            Shrink);

    private static IEnumerable<KillSequence> Shrink(KillSequence seq)
    {
        Step[] s = seq.Steps;
        for (int chunk = s.Length / 2; chunk >= 1; chunk /= 2)
        {
            for (int start = 0; start + chunk <= s.Length; start += chunk)
            {
                // Steps removed before the kill move it back; removed across it, the kill lands where they were.
                int killAt = seq.KillAt <= start ? seq.KillAt : Math.Max(start, seq.KillAt - chunk);
                yield return new KillSequence([.. s[..start], .. s[(start + chunk)..]], killAt);
            }
        }
    }
}
