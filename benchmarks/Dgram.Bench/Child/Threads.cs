using Akka.Actor;

namespace Dgram.Bench.Child;

/// <summary>
/// A pinned child sees one processor (<see cref="Environment.ProcessorCount"/> is 1 under taskset), so the
/// counts that would follow from it are set here, the same for every path.
/// </summary>
internal static class Threads
{
    public const int PoolMinimum = 4;

    public static void SetExplicitly()
    {
        ThreadPool.SetMinThreads(PoolMinimum, PoolMinimum);
        Console.Error.WriteLine($"child: {Environment.ProcessorCount} processor(s) visible, thread pool minimum {PoolMinimum}/{PoolMinimum}");
    }

    /// <summary>An actor system as the benchmarks use it: warnings only, no dead-letter logging, plus BENCH_AKKA_CONFIG.</summary>
    public static ActorSystem CreateActorSystem(string name) => ActorSystem.Create(name,
        "akka.loglevel = WARNING\nakka.log-dead-letters = off\n" + (Environment.GetEnvironmentVariable("BENCH_AKKA_CONFIG") ?? ""));
}
