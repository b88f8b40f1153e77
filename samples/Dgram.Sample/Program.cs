// The main job: a multicast pipeline on one machine that survives faults.
// Publishers send sequence-numbered datagrams to an any-source group and (from two sources) to a
// source-specific group; subscriber sockets configured through Akka.Hosting join them; an Rx
// pipeline computes per-source rate and loss and feeds an aggregating actor. Midway it kills a socket
// actor and deletes and re-creates the interface the subscribers joined on; supervision recovers.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Reactive.Linq;
using Akka.Actor;
using Akka.Hosting;
using Dgram.Actors.Hosting;
using Dgram.Actors.Protocol;
using Dgram.Rx;
using Dgram.Sample;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

var options = SampleOptions.Parse(args);
if (options is null) return 2;
Console.Error.WriteLine(options.Lab
    ? "dgram sample: running in a private network namespace (veth lab: lab0a <- lab0b)"
    : "dgram sample: no private network namespace; falling back to loopback only (IPv4 on lo; the interface fault is skipped)");

var host = Host.CreateDefaultBuilder()
    .ConfigureAppConfiguration(c =>
    {
        c.Sources.Clear();
        c.AddJsonFile(Path.Combine(AppContext.BaseDirectory, options.Lab ? "appsettings.lab.json" : "appsettings.loopback.json"));
    })
    .ConfigureLogging(l => l.ClearProviders())
    .ConfigureServices((context, services) =>
    {
        services.AddDgramSocketRegistry();
        services.AddAkka("dgram-sample", (akka, _) => akka
            // Faults are the point of the sample: keep warnings and errors, drop the chatter.
            .AddHocon("akka.loglevel = WARNING\nakka.log-dead-letters = off", HoconAddMode.Prepend)
            .WithDgramSockets(context.Configuration.GetSection("Dgram:Sockets"))
            .WithActors((system, registry) => registry.Register<Aggregator>(system.ActorOf(Props.Create(() => new Aggregator()), "aggregator"))));
    })
    .Build();

await host.StartAsync();
var config = host.Services.GetRequiredService<IConfiguration>();
var system = host.Services.GetRequiredService<ActorSystem>();
var sockets = host.Services.GetRequiredService<DgramSocketRegistry>();
IActorRef aggregator = await host.Services.GetRequiredService<IRequiredActor<Aggregator>>().GetAsync();
var faults = new FaultLog();
var trackers = new List<StreamTracker>();
var subscriptions = new List<IDisposable>();
var statsByName = new Dictionary<string, SubscriberStatistics>();

foreach (string name in sockets.Names)
{
    var client = sockets.Get(name);
    var streams = await client.OpenStreamsAsync();
    var stats = new SubscriberStatistics();
    statsByName[name] = stats;
    var tracker = new StreamTracker(name, faults);
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
    if (allActive && (!options.Lab || KernelCheck.MembershipsInKernel())) break;
    await Task.Delay(20);
}

var publishers = config.GetSection("Publishers").GetChildren().Select(p => new Publisher(
    IPAddress.Parse(p["Source"]!), p["Interface"]!, IPAddress.Parse(p["Group"]!), int.Parse(p["Port"]!, CultureInfo.InvariantCulture), options.Rate)).ToList();
using var stop = new CancellationTokenSource();
var publishing = publishers.Select(p => Task.Run(() => p.Run(stop.Token))).ToList();

var clock = Stopwatch.StartNew();
var display = new Display(options.Plain);
bool killed = false, interfaceFaulted = false;
var run = display.Run(async update =>
{
    while (clock.Elapsed < options.Duration)
    {
        if (!killed && clock.Elapsed > options.Duration / 3)
        {
            killed = true;
            faults.Begin("kill ssm-rx incarnation", expectRestored: "ssm-rx");
            IActorRef incarnation = await system.ActorSelection(sockets.Get("ssm-rx").Socket.Path / "*").ResolveOne(TimeSpan.FromSeconds(5));
            incarnation.Tell(Kill.Instance);
        }
        if (options.Lab && !interfaceFaulted && clock.Elapsed > options.Duration * 2 / 3)
        {
            interfaceFaulted = true;
            faults.Begin("delete and re-create lab0a", expectRestored: "interface");
            LabInterface.Delete();
            await Task.Delay(500); // the interface stays away for a while, as a real outage would
            LabInterface.Create();
            foreach (var p in publishers) p.InterfaceChanged();
        }
        await faults.CloseInterfaceWindowWhenRestored(sockets);
        update(await Report.Snapshot(sockets, trackers, publishers, statsByName, faults, aggregator));
        await Task.Delay(500);
    }
});
await run;
stop.Cancel();
await Task.WhenAll(publishing);
await faults.WaitUntilClosed(sockets, TimeSpan.FromSeconds(10));
// Let the last datagrams in flight arrive before counting.
await StreamTracker.WaitForDrain(trackers, publishers, TimeSpan.FromSeconds(3));

string restored = options.Lab ? (KernelCheck.MembershipsInKernel() && faults.AllRestored ? "yes" : "no") : "n/a";
var summary = await Report.Snapshot(sockets, trackers, publishers, statsByName, faults, aggregator);
display.Final(summary);
long unexplained = trackers.Sum(t => t.UnexplainedLoss) - summary.Dropped;
Console.WriteLine(
    $"summary: sent={summary.Sent} received={summary.Received} lost={summary.Lost} dropped={summary.Dropped} restarts={summary.Restarts} memberships-restored={restored}");
if (unexplained > 0) Console.Error.WriteLine($"dgram sample: {unexplained} datagrams lost outside any fault window");

foreach (var s in subscriptions) s.Dispose();
await host.StopAsync(TimeSpan.FromSeconds(10));
return restored != "no" && unexplained <= 0 ? 0 : 1;
