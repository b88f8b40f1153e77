using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;
using static Dgram.Actors.Protocol.SocketProtocol;

namespace Dgram.Actors.Tests.Actors;

/// <summary>
/// The reason for the design: 8 concurrent callers interleave TTL / interface changes with sends on one
/// socket actor. Replies carry the actor's sequence number, so the test rebuilds the global order and
/// checks every datagram's TTL (IP_RECVTTL / IPV6_RECVHOPLIMIT) and arrival interface at the receiver
/// against the last change applied before it; atomic sends must carry their own settings.
/// </summary>
public abstract class OrderingTests : ActorTestBase
{
    private readonly LabFamily _f;

    protected OrderingTests(LabFamily family, ITestOutputHelper output) : base(output) => _f = family;

    private sealed record Step(long Sequence, string Kind, int Ttl, string? Interface, string? Id);

    [Fact]
    public async Task ConcurrentCallers_EveryDatagramCarriesTheSettingsInForceWhenItWasSent()
    {
        IPAddress group = _f.NewGroup();
        int port = LabNet.NextPort();
        var rx = Core(_f.Family, new DatagramSocketOptions { ReceiveMetadata = ReceiveMetadata.PacketInfo | ReceiveMetadata.HopLimit });
        rx.SetReceiveBufferSize(4 << 20);
        rx.Bind(new IPEndPoint(_f.Any, port));
        rx.JoinGroup(group, LabNet.Rx0);
        rx.JoinGroup(group, LabNet.Rx1);
        int rx0 = LabNet.Index(LabNet.Rx0), rx1 = LabNet.Index(LabNet.Rx1);

        var sender = await SocketClient.StartAsync(Sys, new SocketSettings
        {
            Name = "ordering-" + port, Family = _f.Family, LocalEndPoint = new IPEndPoint(_f.Any, 0),
            MulticastTtl = 1, MulticastInterface = LabNet.Tx0,
        });

        const int callers = 8, stepsPerCaller = 250;
        var steps = new ConcurrentBag<Step>();
        var destination = new IPEndPoint(group, port);
        string[] interfaces = [LabNet.Tx0, LabNet.Tx1];

        async Task Caller(int c)
        {
            var random = new Random(c);
            for (int i = 0; i < stepsPerCaller; i++)
            {
                string id = $"{c}-{i}";
                switch (random.Next(4))
                {
                    case 0:
                        int ttl = random.Next(1, 256);
                        var t = await sender.Socket.Ask<OptionValue<int>>(new SetMulticastTtl(ttl), Arrival);
                        steps.Add(new Step(t.Sequence, "ttl", ttl, null, null));
                        break;
                    case 1:
                        string ifname = interfaces[random.Next(2)];
                        var f = await sender.Socket.Ask<OptionValue<string?>>(new SetMulticastInterface(ifname), Arrival);
                        steps.Add(new Step(f.Sequence, "if", 0, ifname, null));
                        break;
                    case 2:
                        var s = await sender.Socket.Ask<Sent>(new Send(Encoding.ASCII.GetBytes(id), destination), Arrival);
                        Assert.Equal(SendStatus.Sent, s.Result.Status);
                        steps.Add(new Step(s.Sequence, "send", 0, null, id));
                        break;
                    default:
                        int own = random.Next(1, 256);
                        string ownIf = interfaces[random.Next(2)];
                        var a = await sender.Socket.Ask<Sent>(new SendWithOptions(Encoding.ASCII.GetBytes(id), destination, own, ownIf), Arrival);
                        Assert.Equal(SendStatus.Sent, a.Result.Status);
                        steps.Add(new Step(a.Sequence, "atomic", own, ownIf, id));
                        break;
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, callers).Select(c => Task.Run(() => Caller(c))));

        // Rebuild the global order and what each datagram should carry.
        var expected = new Dictionary<string, (int Ttl, int IfIndex)>();
        int currentTtl = 1;
        string currentIf = LabNet.Tx0;
        int IfIndexAtReceiver(string tx) => tx == LabNet.Tx0 ? rx0 : rx1;
        var ordered = steps.OrderBy(s => s.Sequence).ToList();
        Assert.Equal(ordered.Count, ordered.Select(s => s.Sequence).Distinct().Count());
        foreach (Step s in ordered)
        {
            switch (s.Kind)
            {
                case "ttl": currentTtl = s.Ttl; break;
                case "if": currentIf = s.Interface!; break;
                case "send": expected[s.Id!] = (currentTtl, IfIndexAtReceiver(currentIf)); break;
                case "atomic": expected[s.Id!] = (s.Ttl, IfIndexAtReceiver(s.Interface!)); break;
            }
        }
        int changes = ordered.Count(s => s.Kind is "ttl" or "if");
        Assert.True(changes >= 900, $"only {changes} changes");

        var seen = new Dictionary<string, (int Ttl, int IfIndex)>();
        byte[] buffer = new byte[64];
        while (seen.Count < expected.Count)
        {
            ReceiveResult r = rx.ReceiveFrom(buffer, (SocketAddress?)null, Arrival);
            Assert.Equal(ReceiveStatus.Received, r.Status);
            seen[Encoding.ASCII.GetString(buffer, 0, r.BytesReceived)] = (r.HopLimit, r.InterfaceIndex);
        }
        var wrong = expected.Where(e => seen[e.Key] != e.Value).Select(e => $"{e.Key}: expected {e.Value}, got {seen[e.Key]}").ToList();
        Assert.True(wrong.Count == 0, string.Join("\n", wrong.Take(10)));
    }
}

[Trait("Area", "Actor")]
public sealed class OrderingTestsV4(ITestOutputHelper output) : OrderingTests(LabFamily.V4, output);

[Trait("Area", "Actor")]
public sealed class OrderingTestsV6(ITestOutputHelper output) : OrderingTests(LabFamily.V6, output);
