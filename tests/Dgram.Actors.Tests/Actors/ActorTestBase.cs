using System.Net;
using System.Net.Sockets;
using System.Text;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Actors;

/// <summary>An actor system per test (TestKit, logging to the test's output), the lab check, and plain sockets for the far end.</summary>
public abstract class ActorTestBase : LoggedTestKit
{
    protected static readonly TimeSpan Arrival = TimeSpan.FromSeconds(5);
    private readonly List<IDisposable> _owned = [];

    protected ActorTestBase(Xunit.Abstractions.ITestOutputHelper output)
        : base(output, "akka.loglevel = INFO")
    {
        LabNet.Require();
    }

    protected DatagramSocket Core(AddressFamily family, DatagramSocketOptions? options = null)
    {
        var s = DatagramSocket.Create(family, options);
        _owned.Add(s);
        return s;
    }

    /// <summary>A plain sender bound to <paramref name="source"/>, sending multicast out of <paramref name="ifname"/>.</summary>
    protected DatagramSocket CoreSender(LabFamily f, IPAddress source, string ifname)
    {
        var s = LabNet.OpenSender(f, source, ifname);
        _owned.Add(s);
        return s;
    }

    protected static void SendText(DatagramSocket s, IPAddress to, int port, string text) => LabNet.SendText(s, to, port, text);

    /// <summary>A socket actor bound to the wildcard on a fresh port.</summary>
    protected async Task<(SocketClient Client, int Port)> StartReceiver(LabFamily f, Func<SocketSettings, SocketSettings>? configure = null)
    {
        int port = LabNet.NextPort();
        var settings = new SocketSettings { Name = "rx-" + port, Family = f.Family, LocalEndPoint = new IPEndPoint(f.Any, port) };
        if (configure is not null) settings = configure(settings);
        return (await SocketClient.StartAsync(Sys, settings), port);
    }

    /// <summary>Runs an action on the actor's current socket (test hook), e.g. to read an option back.</summary>
    protected async Task<T> OnSocket<T>(SocketClient client, Func<DatagramSocket, T> read)
    {
        T value = default!;
        await client.Socket.Ask<Dgram.Actors.Actors.TestHook>(new Dgram.Actors.Actors.TestHook(s => value = read(s)), Arrival);
        return value;
    }

    protected static string Text(SocketProtocol.Received r) => Encoding.UTF8.GetString(r.Payload.Span);

    protected override void AfterAll()
    {
        base.AfterAll();
        foreach (var d in _owned) d.Dispose();
    }
}
