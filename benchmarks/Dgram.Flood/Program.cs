// A full-rate flood into one kind of slow consumer, printing the process's resident memory over time
// (run by ./flood.sh inside a private network namespace; loopback only). Each consumer takes 10 ms per
// datagram, far slower than the flood, so only its bound keeps memory flat; every drop is counted.
// usage: Dgram.Flood KIND SECONDS SIZE BLAST_PATH
//   KIND: actor | pipe | drop-oldest | drop-newest | fail | pause | inline | pull
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Rx;

if (args.Length != 4)
{
    Console.Error.WriteLine("usage: Dgram.Flood KIND SECONDS SIZE BLAST_PATH");
    return 2;
}
string kind = args[0];
int seconds = int.Parse(args[1], CultureInfo.InvariantCulture), size = int.Parse(args[2], CultureInfo.InvariantCulture);
const int Port = 47999;
TimeSpan work = TimeSpan.FromMilliseconds(10);

using var system = ActorSystem.Create("flood", "akka.loglevel = WARNING\nakka.log-dead-letters = off");
SocketClient client = await SocketClient.StartAsync(system, new SocketSettings
{
    Name = "flood", Family = AddressFamily.InterNetwork, LocalEndPoint = new IPEndPoint(IPAddress.Loopback, Port), ReceiveBufferSize = 4 << 20,
});
var slow = system.ActorOf(Props.Create(() => new Slow(work)), "slow");
var subscriber = new SubscriberStatistics();
var pipe = new SubscriberStatistics(); // PipeTo's own bound, behind the Rx buffer
long[] pulled = [0];
DatagramStreams? streams = null;
IDisposable? subscription = null;
switch (kind)
{
    case "actor":
        await client.SubscribeAsync(slow);
        break;
    case "pipe":
        streams = await client.OpenStreamsAsync();
        subscription = streams.Datagrams(new SubscriberOptions { Capacity = 1024, Statistics = subscriber }).PipeTo(slow, statistics: pipe);
        break;
    case "drop-oldest" or "drop-newest" or "fail" or "pause":
        streams = await client.OpenStreamsAsync();
        OverflowPolicy policy = kind switch { "drop-oldest" => OverflowPolicy.DropOldest, "drop-newest" => OverflowPolicy.DropNewest, "fail" => OverflowPolicy.Fail, _ => OverflowPolicy.PauseSocket };
        subscription = streams.Datagrams(new SubscriberOptions { Capacity = 1024, Overflow = policy, Statistics = subscriber })
            .Subscribe(_ => Thread.Sleep(work), _ => { });
        break;
    case "inline":
        streams = await client.OpenStreamsAsync();
        subscription = streams.Datagrams(new SubscriberOptions { Inline = true, Statistics = subscriber }).Subscribe(_ => Thread.Sleep(work), _ => { });
        break;
    case "pull":
        _ = Task.Run(async () =>
        {
            while (true)
            {
                if (!(await client.ReceiveFromAsync(TimeSpan.FromSeconds(1))).TimedOut) Interlocked.Increment(ref pulled[0]);
                Thread.Sleep(work);
            }
        });
        break;
    default:
        Console.Error.WriteLine($"unknown kind {kind}");
        return 2;
}

using var blast = Process.Start(new ProcessStartInfo(args[3], $"127.0.0.1 {Port} {size} {seconds}") { RedirectStandardOutput = true })!;
var clock = Stopwatch.StartNew();
Console.WriteLine($"kind={kind} size={size} seconds={seconds}");
Console.WriteLine("     t   rss_MiB  heap_MiB  threads  received  kernel_drops  subscriber_drops  no_consumer  delivered");
while (!blast.HasExited)
{
    await Task.WhenAny(blast.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(Math.Max(1, seconds / 15))));
    using var self = Process.GetCurrentProcess();
    SocketState state = await client.GetStateAsync();
    // Delivered: told to the slow actor (actor, pipe) or handed to OnNext; drops: every bound on the way.
    long delivered = kind switch { "actor" => state.Subscribers.Sum(s => s.Delivered), "pipe" => pipe.Delivered, "pull" => Volatile.Read(ref pulled[0]), _ => subscriber.Delivered };
    long subscriberDrops = state.Counters.SubscriberDrops + (kind is "actor" ? 0 : subscriber.Dropped + pipe.Dropped);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{clock.Elapsed.TotalSeconds,6:F1}  {self.WorkingSet64 / 1048576.0,8:F1}  {GC.GetTotalMemory(false) / 1048576.0,8:F1}  {self.Threads.Count,7}  {state.Counters.DatagramsReceived,8}  {state.Counters.KernelDrops,12}  {subscriberDrops,16}  {state.Counters.NoConsumerDrops,11}  {delivered,9}"));
}
Console.WriteLine($"blast sent {blast.StandardOutput.ReadToEnd().Trim()}");
subscription?.Dispose();
streams?.Dispose();
return 0;

/// <summary>A consumer far slower than the flood: 10 ms per message.</summary>
internal sealed class Slow(TimeSpan work) : UntypedActor
{
    protected override void OnReceive(object message) => Thread.Sleep(work);
}
