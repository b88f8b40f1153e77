// Side-by-side receive throughput and round-trip latency, in one run, under the same conditions:
// raw .NET, Akka.IO, this project's socket core, batched and actor + Rx paths, and C ceilings.
// Loopback only (inside the lab namespace when run by ./bench.sh). Only ratios are meaningful.
// --rtt runs only the round trips; BENCH_AKKA_CONFIG adds HOCON to the actor system (to compare
// dispatchers, say: "akka.actor.default-dispatcher.executor = channel-executor").
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.IO;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Supervision;
using Dgram.Bench;
using Dgram.Rx;

if (args.Length > 0 && args[0] == "scale") return await Scale.RunAsync(args[1..]);

bool quick = args.Contains("--quick");
string native = args.SkipWhile(a => a != "--native").Skip(1).FirstOrDefault() ?? "benchmarks/native/bin";
double seconds = quick ? 1.5 : 4;
int[] sizes = [64, 1400];
var results = new List<Result>();
int port = 30000;
using var system = ActorSystem.Create("bench", "akka.loglevel = WARNING\nakka.log-dead-letters = off\n" + (Environment.GetEnvironmentVariable("BENCH_AKKA_CONFIG") ?? ""));

bool rttOnly = args.Contains("--rtt");
foreach (int size in rttOnly ? [] : sizes)
{
    foreach (var (name, receiver) in Receivers.All(system))
    {
        port++;
        results.Add(await Measure.Receive(name, size, seconds, port, receiver, native));
        Console.Error.WriteLine(results[^1].Describe());
    }
    foreach (string mode in new[] { "recvfrom", "recvmmsg" })
    {
        port++;
        results.Add(await Measure.NativeReceive(mode, size, seconds, port, native));
        Console.Error.WriteLine(results[^1].Describe());
    }
}

var rtt = new List<(string Name, double P50, double P99)>
{
    await Latency.RawSync(++port, quick ? 5_000 : 20_000),
    await Latency.RawAsync(++port, quick ? 5_000 : 20_000),
    await Latency.Core(++port, quick ? 5_000 : 20_000),
    await Latency.Actor(system, ++port, quick ? 5_000 : 20_000),
    await Latency.ActorTell(system, ++port, quick ? 5_000 : 20_000),
    await Latency.ActorRx(system, ++port, quick ? 5_000 : 20_000),
};

if (rttOnly)
{
    foreach (var (name, p50, p99) in rtt) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round trip {name,-10} p50 {p50,7:F1} us  p99 {p99,7:F1} us"));
    return 0;
}
var sends = await Senders.Measure(system, native, seconds, ++port + 10);
var fanOut = await FanOut.Measure(system, port += 20, quick ? 1 : 2);
Report.Print(results, rtt, sends, fanOut);
string? charts = args.SkipWhile(a => a != "--charts").Skip(1).FirstOrDefault();
if (charts is not null)
{
    Chart.Write(charts, results, rtt, sends);
    Console.Error.WriteLine($"charts written to {charts}/throughput.png, allocation.png, latency.png");
}
return 0;
