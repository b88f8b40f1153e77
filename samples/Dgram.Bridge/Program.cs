// A bridge node: one member of a site's cluster running the site's bridge (Dgram.Cluster). Run the same program,
// with the site's bridge settings, on every node of every site:
//   dotnet Dgram.Bridge.dll --config node.json
// node.json: { "Node": { "Hostname": "203.0.113.18", "Port": 4053, "SeedNodes": ["akka.tcp://dgram@203.0.113.18:4053"] },
//              "DgramBridge": { "Site": "a", "Interface": "eth0", ... } }   (see NodeSettings and DgramBridgeHostingExtensions)
// Exit codes: 0 after SIGTERM/SIGINT (the node left its cluster gracefully), 1 bad configuration or a start that
// failed, 2 the actor system terminated by itself (the node was downed): run it under a supervisor that restarts it
// (systemd Restart=always), and it rejoins through its seed nodes.
using Akka.Actor;
using Akka.Cluster;
using Akka.Hosting;
using Dgram.Actors.Hosting;
using Dgram.Bridge;
using Dgram.Cluster;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using System.Runtime.InteropServices;

string? configFile = args.Length == 2 && args[0] == "--config" ? args[1] : null;
if (configFile is null)
{
    Console.Error.WriteLine("usage: Dgram.Bridge --config FILE.json");
    return 1;
}

IHost host;
try
{
    IConfiguration configuration = new ConfigurationBuilder().AddJsonFile(Path.GetFullPath(configFile), optional: false).Build();
    NodeSettings node = NodeSettings.Read(configuration);
    var builder = Host.CreateApplicationBuilder();
    builder.Logging.ClearProviders(); // Akka logs to stdout itself: one format, one stream
    builder.Services.AddAkka("dgram", akka => akka
        .AddHocon(node.Hocon(), HoconAddMode.Prepend)
        .WithDgramBridge(configuration.GetSection("DgramBridge"))
        .AddStartup((system, _) =>
        {
            var cluster = Akka.Cluster.Cluster.Get(system);
            cluster.RegisterOnMemberUp(() => Console.WriteLine($"bridge-node: member up address={cluster.SelfAddress}"));
        }));
    host = builder.Build();
    await host.StartAsync();
}
catch (Exception e) when (e is DgramConfigurationException or ArgumentException or InvalidOperationException or IOException or FormatException)
{
    Console.Error.WriteLine($"bridge-node: {e.Message}");
    return 1;
}

var system = host.Services.GetRequiredService<ActorSystem>();
var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
bool stopRequested = false;
using (PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => stopRequested = true))
using (PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => stopRequested = true))
{
    await host.WaitForShutdownAsync();
}
await system.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(30));
host.Dispose();
Console.WriteLine(stopRequested ? "bridge-node: left the cluster" : "bridge-node: the actor system terminated (downed): exit 2 for a restart");
return stopRequested ? 0 : 2;
