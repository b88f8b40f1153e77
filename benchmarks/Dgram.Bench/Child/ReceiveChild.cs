using System.Globalization;
using System.Net;
using Akka.Actor;

namespace Dgram.Bench.Child;

/// <summary>
/// <c>receive</c>: one receive path in a process of its own (the orchestrator pins it to a core), on one
/// socket or several. Speaks the same line protocol as the C <c>sink</c>: prints <c>ready</c>, then
/// answers each <c>mark</c> with <c>count=SUM min=MIN dropped=D cpu_us=U alloc=B gen0=G</c> (datagrams
/// over all sockets and on the one that got fewest, drops the path counted, this process's CPU, bytes
/// allocated and gen-0 collections so far); <c>quit</c> or end of input stops it.
/// </summary>
internal static class ReceiveChild
{
    public const string Usage = "receive --path P --bind ADDR --port N [--group G [--source S] --iface NAME] [--rcvbuf B] [--sockets N [--distinct]]";

    public static async Task<int> RunAsync(string[] args)
    {
        var o = new Options(args, "--distinct");
        string path = o.Required("--path");
        var target = new Target(IPAddress.Parse(o.Required("--bind")), o.Int("--port", 0),
            o.Get("--group") is { } g ? IPAddress.Parse(g) : null, o.Get("--source") is { } s ? IPAddress.Parse(s) : null,
            o.Get("--iface"), o.Int("--rcvbuf", 4 << 20));
        int sockets = o.Int("--sockets", 1);
        bool distinct = o.Flag("--distinct");
        o.End();
        if (!Receivers.Paths.TryGetValue(path, out var start)) throw new ArgumentException($"unknown path '{path}'; known: {string.Join(", ", Receivers.Paths.Keys)}");

        Threads.SetExplicitly();
        var system = new Lazy<ActorSystem>(() => Threads.CreateActorSystem("receive"));
        var receivers = new List<IReceiver>();
        for (int i = 0; i < sockets; i++) receivers.Add(await start(system, target.Nth(i, distinct), sockets > 1 && !distinct));
        Console.WriteLine("ready");
        // The protocol blocks on stdin: on a thread of its own, never on a pool thread the path may need
        // (Akka.IO's receive completions stalled behind a pool thread blocked in Console.ReadLine).
        await Task.Factory.StartNew(() => Answer(receivers), TaskCreationOptions.LongRunning);
        foreach (IReceiver r in receivers) await r.DisposeAsync();
        if (system.IsValueCreated) await system.Value.Terminate();
        return 0;
    }

    private static void Answer(List<IReceiver> receivers)
    {
        while (Console.ReadLine() is { } line && line != "quit")
        {
            if (line != "mark") continue;
            long sum = 0, min = long.MaxValue, dropped = 0;
            foreach (IReceiver r in receivers)
            {
                long c = r.Count;
                sum += c;
                min = Math.Min(min, c);
                dropped += r.Dropped;
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"count={sum} min={min} dropped={dropped} cpu_us={ProcessClock.CpuMicroseconds():F0} alloc={GC.GetTotalAllocatedBytes()} gen0={GC.CollectionCount(0)}"));
        }
    }
}
