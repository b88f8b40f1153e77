// The main job: a multicast pipeline on one machine that survives faults.
// Publishers send sequence-numbered datagrams to an any-source group and (from two sources) to a
// source-specific group; subscriber sockets configured through Akka.Hosting join them; an Rx
// pipeline computes per-source rate and loss and feeds an aggregating actor. Midway it kills a socket
// actor and deletes and re-creates the interface the subscribers joined on; supervision recovers.
// It passes when every lost datagram was sent inside a fault window that applies to its socket
// (LossRule.cs: windows in sequence numbers, no time margin). With --sites 2 (./run.sh --sites 2, inside
// lab/sites.sh) the publishers are on site A's segment, the sockets on site B's, the groups bridged by the
// cluster (Dgram.Cluster); the faults are a hard kill of site A's ingress node and a WAN cut (Sites.cs), and a
// duplicate fails the run too. Exit codes: 0 passed, 1 failed, 2 bad arguments, 3 could not start (a setting or
// a socket: one line on stderr).
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Reactive.Linq;
using Akka.Actor;
using Akka.Hosting;
using Dgram.Actors.Diagnostics;
using Dgram.Actors.Hosting;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Rx;
using Dgram.Sample;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

var options = SampleOptions.Parse(args);
if (options is null) return 2;
Sites? sites = options.SitesDirectory is { } sitesDirectory ? Sites.Open(sitesDirectory) : null;

var log = new SampleLog();
using var host = Host.CreateDefaultBuilder()
    .ConfigureAppConfiguration(c =>
    {
        c.Sources.Clear();
        c.AddJsonFile(options.ConfigFile);
    })
    // One format for every line, the sample's and Akka's: Akka's go through ILogger (ConfigureLoggers below).
    .ConfigureLogging(l => l.ClearProviders().AddProvider(log).SetMinimumLevel(LogLevel.Information).AddFilter("Microsoft", LogLevel.Warning))
    .ConfigureServices((context, services) =>
    {
        services.AddDgramSocketRegistry();
        services.AddAkka("dgram-sample", (akka, _) => akka
            // Faults are the point of the sample: keep warnings and errors, drop the chatter.
            .ConfigureLoggers(l =>
            {
                l.LogLevel = Akka.Event.LogLevel.WarningLevel;
                l.ClearLoggers();
                l.AddLoggerFactory();
            })
            .AddHocon("akka.log-dead-letters = off", HoconAddMode.Prepend)
            .WithDgramSockets(context.Configuration.GetSection("Dgram:Sockets"))
            .WithActors((system, registry) => registry.Register<Aggregator>(system.ActorOf(Props.Create(() => new Aggregator()), "aggregator"))));
        if (options.MetricsConsole || options.Otlp is not null)
        {
            // The library's meter through OpenTelemetry: the console exporter prints every 5 s and once more at exit.
            services.AddOpenTelemetry().WithMetrics(metrics =>
            {
                metrics.AddMeter(DgramMetrics.MeterName, DgramRxMetrics.MeterName);
                if (options.MetricsConsole) metrics.AddConsoleExporter((_, reader) => reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 5_000);
                if (options.Otlp is { } endpoint) metrics.AddOtlpExporter(otlp => otlp.Endpoint = endpoint);
            });
        }
    })
    .Build();
ILogger logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Sample");
logger.LogInformation(sites is not null
    ? "running across two sites: publishers on site a's segment, sockets on site b's, the groups bridged by the cluster"
    : options.Lab
    ? "running in a private network namespace (veth lab: lab0a <- lab0b)"
    : "loopback only (IPv4 on lo; the interface fault is skipped)");

try
{
    await host.StartAsync();
}
catch (Exception e) when (StartFailure(e) is { } failure)
{
    // The setting or socket that stopped the start, once: the lines logged on the way say the same. Akka
    // logs asynchronously, so its lines are discarded after its actor system has stopped.
    try
    {
        await host.StopAsync(TimeSpan.FromSeconds(5));
    }
    catch (ArgumentNullException)
    {
        // The start failed before the host had its hosted services (reading the configuration): nothing ran.
    }
    log.Discard();
    Console.Error.WriteLine($"dgram sample: cannot start: {failure.Message}");
    return 3;
}
log.Release();
var config = host.Services.GetRequiredService<IConfiguration>();
var system = host.Services.GetRequiredService<ActorSystem>();
var sockets = host.Services.GetRequiredService<DgramSocketRegistry>();
IActorRef aggregator = await host.Services.GetRequiredService<IRequiredActor<Aggregator>>().GetAsync();
var publishers = config.GetSection("Publishers").GetChildren().Select(p => new Publisher(
    IPAddress.Parse(p["Source"]!), p["Interface"]!, IPAddress.Parse(p["Group"]!), int.Parse(p["Port"]!, CultureInfo.InvariantCulture), options.Rate, sites?.Publishers)).ToList();
// The publishers sending to the group and port a socket binds: what it should get.
List<(Publisher Publisher, int Index)> PublishersOf(string socket)
{
    var bind = IPEndPoint.Parse(config[$"Dgram:Sockets:{socket}:Bind"]!);
    return [.. publishers.Select((p, i) => (p, i)).Where(x => x.p.Group.Equals(bind.Address) && x.p.Port == bind.Port)];
}
var faults = new FaultLog(publishers);
var trackers = new List<StreamTracker>();
var subscriptions = new List<IDisposable>();
var statsByName = new Dictionary<string, SubscriberStatistics>();

foreach (string name in sockets.Names)
{
    var client = await sockets.GetAsync(name);
    var streams = await client.OpenStreamsAsync();
    var stats = new SubscriberStatistics();
    statsByName[name] = stats;
    // Across sites a socket's datagrams come from the re-emitting node: one publisher per group tells them apart.
    var tracker = new StreamTracker(name, sites is null ? null : PublishersOf(name).Single().Publisher.Source);
    trackers.Add(tracker);
    IObservable<Datagram> datagrams = streams.Datagrams(new SubscriberOptions { Capacity = 1 << 16, Statistics = stats });
    subscriptions.Add(datagrams.Subscribe(tracker.OnDatagram));
    subscriptions.Add(datagrams
        .SourceStatistics(d => Payload.Sequence(d.Payload.Span), TimeSpan.FromSeconds(1))
        .SelectMany(windows => windows)
        .PipeTo(aggregator));
    subscriptions.Add(streams.Status.Subscribe(s => faults.OnStatus(name, s)));
    subscriptions.Add(streams);
}

// Publish only once every socket is bound and its memberships are in the kernel: a datagram sent
// before that is lost outside any fault window.
var ready = Stopwatch.StartNew();
while (ready.Elapsed < TimeSpan.FromSeconds(10))
{
    bool allActive = true;
    foreach (string name in sockets.Names)
    {
        var state = await sockets.Get(name).GetStateAsync();
        allActive &= state.Memberships.All(m => m.Status == MembershipStatus.Active);
    }
    if (allActive && (!options.Lab || sites is not null || KernelCheck.MembershipsInKernel())) break;
    await Task.Delay(20);
}
if (sites is not null && !await SitesWarmUp.Run(publishers, trackers, TimeSpan.FromSeconds(60)))
{
    await host.StopAsync(TimeSpan.FromSeconds(10));
    Console.Error.WriteLine("dgram sample: cannot start: the bridge carried no warm-up datagram from site a to every socket on site b within 60 s");
    return 3;
}

using var stop = new CancellationTokenSource();
var publishing = publishers.Select(p => Task.Run(() => p.Run(stop.Token))).ToList();

var clock = Stopwatch.StartNew();
var display = new Display(options.Plain, log);
var faulting = sites is not null ? SiteFaults.Run(sites, faults, publishers, Streams(), options.Duration, clock, options.Rate, logger) : Task.Run(async () =>
{
    // Pacing the faults through the run, not waiting for anything.
    await Task.Delay(options.Duration / 3);
    await Faults.KillIncarnation(system, sockets, faults, options.Lab, logger);
    if (!options.Lab) return;
    if (options.Duration * 2 / 3 > clock.Elapsed) await Task.Delay(options.Duration * 2 / 3 - clock.Elapsed);
    await Faults.DeleteAndRecreateInterface(sockets, faults, publishers, logger);
});
var run = display.Run(async update =>
{
    while (clock.Elapsed < options.Duration)
    {
        update(await Report.Snapshot(sockets, trackers, publishers, statsByName, faults, aggregator));
        await Task.Delay(500);
    }
});
await run;
await faulting;
stop.Cancel();
await Task.WhenAll(publishing);

// What each socket should have got: every datagram of the publishers sending to the group and port it binds.
var expected = sockets.Names.SelectMany(name => PublishersOf(name)
    .Select(x => new Expected(name, x.Index, x.Publisher.Source.ToString(), x.Publisher.LastSequence, trackers.Single(t => t.Socket == name).From(x.Publisher.Source)))).ToList();
// Let the last datagrams in flight arrive before counting.
for (var drain = Stopwatch.StartNew(); expected.Any(e => !e.Arrivals.Has(e.LastSent)) && drain.Elapsed < TimeSpan.FromSeconds(3);) await Task.Delay(20);

Tally tally = LossRule.Count(expected, faults.Windows);
string restored = options.Lab && sites is null ? (KernelCheck.MembershipsInKernel() && faults.AllRestored ? "yes" : "no") : "n/a";
var summary = await Report.Snapshot(sockets, trackers, publishers, statsByName, faults, aggregator) with { Lost = tally.Lost };

long duplicates = expected.Sum(e => e.Arrivals.Duplicates);
// The re-emitters log their counters once a second while they change: the last datagrams' line comes within one.
if (sites is not null) await Task.Delay(TimeSpan.FromSeconds(1.5));

foreach (var s in subscriptions) s.Dispose();
await host.StopAsync(TimeSpan.FromSeconds(10));
host.Dispose(); // flushes the metrics exporters now: the summary stays the last line
display.Final(summary);
Console.WriteLine(sites is null
    ? $"summary: {Display.Counts(summary)} memberships-restored={restored}"
    : $"summary: {Display.Counts(summary)} sites=2 duplicates={duplicates} bridge-lost={sites.BridgeLost} node-restarts={sites.NodeRestarts}");
if (tally.Unexplained > 0)
{
    Console.Error.WriteLine($"dgram sample: {tally.Unexplained} of {tally.Lost} lost datagrams were sent outside every fault window that applies to their socket");
    foreach (string e in tally.Examples) Console.Error.WriteLine("  " + e);
}
// Across sites a duplicate is the bridge's failure (each datagram enters once and is re-emitted once).
bool duplicated = sites is not null && duplicates > 0;
if (duplicated) Console.Error.WriteLine($"dgram sample: {duplicates} datagrams arrived twice: the bridge must carry each once");
return restored != "no" && faults.AllRestored && tally.Unexplained == 0 && !duplicated ? 0 : 1;

// Every (publisher, arrivals) pair the sockets should receive, for the faults' recovery checks.
List<(int Publisher, Arrivals Arrivals)> Streams() => [.. sockets.Names.SelectMany(name =>
    PublishersOf(name).Select(x => (x.Index, trackers.Single(t => t.Socket == name).From(x.Publisher.Source))))];

// What stops the host from starting, as the library raises it: a setting (DgramConfigurationException, naming
// its key), a socket (DatagramSocketException) or the platform (PlatformNotSupportedException: not Linux).
// Anything else is a bug here and keeps its stack trace.
static Exception? StartFailure(Exception e) => e switch
{
    DgramConfigurationException or DatagramSocketException or PlatformNotSupportedException => e,
    AggregateException all => all.InnerExceptions.Select(StartFailure).FirstOrDefault(f => f is not null),
    _ => e.InnerException is { } inner ? StartFailure(inner) : null,
};
