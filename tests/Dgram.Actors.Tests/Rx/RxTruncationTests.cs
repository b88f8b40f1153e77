using System.Collections.Concurrent;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Actors;
using Dgram.Actors.Tests.Lab;
using Dgram.Rx;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Rx;

/// <summary>
/// A datagram longer than <see cref="SocketSettings.MaxDatagramSize"/> reaches Rx subscribers cut to that size,
/// marked truncated and carrying its real length (MSG_TRUNC), in <see cref="Datagram"/> and in <see cref="DatagramLease"/>;
/// one that fits carries its own length.
/// </summary>
public abstract class RxTruncationTests : ActorTestBase
{
    private const int Max = 100, Long = 300, Short = 40;
    private readonly LabFamily _f;

    protected RxTruncationTests(LabFamily family, ITestOutputHelper output) : base(output) => _f = family;

    [Fact]
    public async Task TruncatedDatagram_CarriesItsRealLength_InDatagramsAndLeases()
    {
        var (client, port) = await StartReceiver(_f, s => s with { MaxDatagramSize = Max });
        using DatagramStreams streams = await client.OpenStreamsAsync();
        var owned = new ConcurrentQueue<(int Payload, bool Truncated, int Length)>();
        var leased = new ConcurrentQueue<(int Payload, bool Truncated, int Length)>();
        var bothArrived = new CountdownEvent(4);
        using var a = streams.Datagrams().Subscribe(d =>
        {
            owned.Enqueue((d.Payload.Length, d.Truncated, d.Length));
            bothArrived.Signal();
        });
        using var b = streams.Leases(new SubscriberOptions { Inline = true }).Subscribe(l =>
        {
            using (l) leased.Enqueue((l.Span.Length, l.Truncated, l.Length));
            bothArrived.Signal();
        });

        var tx = Core(_f.Family);
        var to = new System.Net.IPEndPoint(_f.Loopback, port);
        Assert.Equal(SendStatus.Sent, tx.SendTo(new byte[Long], to, Arrival).Status);
        Assert.Equal(SendStatus.Sent, tx.SendTo(new byte[Short], to, Arrival).Status);

        Assert.True(bothArrived.Wait(Arrival), $"datagrams seen: {owned.Count} owned, {leased.Count} leased");
        (int, bool, int)[] expected = [(Max, true, Long), (Short, false, Short)];
        Assert.Equal(expected, owned);
        Assert.Equal(expected, leased);
        Assert.Equal(0, streams.Pool.Outstanding);
    }
}

[Trait("Area", "Rx")]
public sealed class RxTruncationTestsV4(ITestOutputHelper output) : RxTruncationTests(LabFamily.V4, output);

[Trait("Area", "Rx")]
public sealed class RxTruncationTestsV6(ITestOutputHelper output) : RxTruncationTests(LabFamily.V6, output);
