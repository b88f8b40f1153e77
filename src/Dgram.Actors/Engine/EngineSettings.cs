using Akka.Configuration;
using Dgram.Actors.Sockets;

namespace Dgram.Actors.Engine;

/// <summary>
/// The I/O engine's settings, from the actor system's <c>dgram.engine</c> configuration section. Strict: an
/// unknown key or a value out of range is an error when the engine starts.
/// </summary>
/// <param name="Threads">Shared epoll threads (default: half the processors, 1 to 4).</param>
/// <param name="ReadsPerWakeup">recvmmsg calls per ready socket per wake-up: the fairness cap.</param>
/// <param name="BlockingBudget">How long a consumer may hold a shared thread before its socket moves to a thread of its own.</param>
internal sealed record EngineSettings(int Threads, int ReadsPerWakeup, TimeSpan BlockingBudget)
{
    public const string Section = "dgram.engine";

    private static readonly string[] Keys = ["threads", "reads-per-wakeup", "blocking-budget"];

    public static int DefaultThreads => Math.Clamp(Environment.ProcessorCount / 2, 1, 4);

    public static EngineSettings From(Config? root)
    {
        Config? c = root is not null && root.HasPath(Section) ? root.GetConfig(Section) : null;
        if (c is null || c.IsEmpty) return new EngineSettings(DefaultThreads, 4, TimeSpan.FromMilliseconds(100));
        foreach (string key in c.Root.GetObject().Items.Keys)
        {
            if (!Keys.Contains(key))
            {
                throw new DatagramSocketException("IoEngine", DatagramSocketError.InvalidArgument, 0, $"{Section}.{key}",
                    $"unknown key; the section takes {string.Join(", ", Keys)}");
            }
        }
        int threads = c.GetInt("threads", 0);
        int reads = c.GetInt("reads-per-wakeup", 4);
        TimeSpan budget = c.GetTimeSpan("blocking-budget", TimeSpan.FromMilliseconds(100), allowInfinite: false);
        if (threads is < 0 or > 64) throw Range("threads", threads.ToString(), "0 (from the processor count) to 64");
        if (reads is < 1 or > 1024) throw Range("reads-per-wakeup", reads.ToString(), "1 to 1024");
        if (budget < TimeSpan.FromMilliseconds(10) || budget > TimeSpan.FromMinutes(1)) throw Range("blocking-budget", budget.ToString(), "10ms to 1m");
        return new EngineSettings(threads == 0 ? DefaultThreads : threads, reads, budget);
    }

    private static DatagramSocketException Range(string key, string value, string allowed) =>
        new("IoEngine", DatagramSocketError.OutOfRange, 0, $"{Section}.{key}={value}", allowed);
}
