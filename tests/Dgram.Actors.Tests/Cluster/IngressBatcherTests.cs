using System.Buffers.Binary;
using System.Net;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Dgram.Cluster;
using Dgram.Cluster.Internal;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Cluster;

/// <summary>
/// Batching at ingress (issue 16, item 6), driven as the read loop drives it: envelopes close at the datagram count,
/// before the byte limit, and at the end of every read; every datagram takes the next sequence number, also one
/// dropped because the ingress actor is behind, so the gap shows downstream.
/// </summary>
[Trait("Area", "Cluster")]
public sealed class IngressBatcherTests(ITestOutputHelper output) : LoggedTestKit(output)
{
    private static readonly BridgeGroup Group = new("g", IPAddress.Parse("239.255.16.1"), 5000);

    private static BridgeSettings Settings(int datagrams = 64, int bytes = 100_000) => new()
    {
        Site = "a",
        Interface = "eth0",
        Peers = new Dictionary<string, IReadOnlyList<string>> { ["b"] = ["akka.tcp://dgram@203.0.113.34:4053"] },
        Groups = [Group],
        MaxBatchDatagrams = datagrams,
        MaxBatchBytes = bytes,
    };

    /// <summary>A raw sockaddr_in as the kernel fills it (family in host order, port and address in network order).</summary>
    private static byte[] SockAddr(string address, int port)
    {
        var sa = new byte[16];
        BitConverter.TryWriteBytes(sa.AsSpan(0, 2), (ushort)2);
        BinaryPrimitives.WriteUInt16BigEndian(sa.AsSpan(2), (ushort)port);
        IPAddress.Parse(address).GetAddressBytes().CopyTo(sa, 4);
        return sa;
    }

    /// <summary>What the kernel reports for a datagram to <paramref name="destination"/> (IP_PKTINFO).</summary>
    private static ReceiveResult Result(int length, IPAddress destination)
    {
        var meta = new ReceiveMetadataValues { DestinationFamily = 2, HopLimit = -1, TrafficClass = -1 };
        destination.GetAddressBytes().CopyTo(meta.Destination);
        return new ReceiveResult(length, length, in meta);
    }

    private static void Offer(IngressBatcher b, int length, int n, IPAddress? destination = null)
    {
        var payload = new byte[length];
        BitConverter.TryWriteBytes(payload, n);
        ReceiveResult result = Result(length, destination ?? Group.Group);
        Assert.True(b.OnDatagram(payload, SockAddr("203.0.113.20", 40000 + n), in result, n));
    }

    [Fact]
    public void ADatagramNotAddressedToTheGroup_IsFilteredAndCounted_NotBridged()
    {
        var b = new IngressBatcher(Settings(), Group, origin: 7, TestActor);
        Offer(b, 10, 1, IPAddress.Parse("203.0.113.18")); // unicast to the node's port: no source filter applies
        Offer(b, 10, 2, IPAddress.Parse("239.255.16.2")); // another group on the same port
        Offer(b, 10, 3);
        b.OnBatchEnd();
        Assert.Equal([3], Envelopes(1).Single().Numbers);
        Assert.Equal(2, b.Filtered);
    }

    private List<(long First, int Count, List<int> Numbers)> Envelopes(int expected)
    {
        var list = new List<(long, int, List<int>)>();
        for (int i = 0; i < expected; i++)
        {
            var batch = ExpectMsg<BridgeBatch>();
            var numbers = new List<int>();
            BridgeBatch.RecordReader r = batch.Records();
            while (r.Next(out ReadOnlySpan<byte> address, out int port, out ReadOnlyMemory<byte> payload))
            {
                Assert.Equal("203.0.113.20", new IPAddress(address).ToString());
                int n = BitConverter.ToInt32(payload.Span);
                Assert.Equal(40000 + n, port); // the original source travels with each datagram
                numbers.Add(n);
            }
            list.Add((batch.FirstSequence, batch.Count, numbers));
        }
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        return list;
    }

    [Fact]
    public void AnEnvelopeCloses_AtTheCount_AndAtTheEndOfARead()
    {
        var b = new IngressBatcher(Settings(datagrams: 3), Group, origin: 7, TestActor);
        for (int n = 0; n < 7; n++) Offer(b, 100, n);
        b.OnBatchEnd();
        var envelopes = Envelopes(3);
        Assert.Equal([(0L, 3), (3L, 3), (6L, 1)], envelopes.Select(e => (e.First, e.Count)));
        Assert.Equal(Enumerable.Range(0, 7), envelopes.SelectMany(e => e.Numbers));
        b.OnBatchEnd(); // nothing gathered: nothing sent
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void AnEnvelopeCloses_BeforeTheByteLimit()
    {
        var b = new IngressBatcher(Settings(bytes: BridgeBatch.MaxRecordBytes), Group, origin: 7, TestActor);
        for (int n = 0; n < 5; n++) Offer(b, 30_000, n); // two records fit 65,556 bytes, three do not
        b.OnBatchEnd();
        Assert.Equal([2, 2, 1], Envelopes(3).Select(e => e.Count));
    }

    [Fact]
    public void WhenTheIngressActorIsBehind_EnvelopesAreDroppedAndCounted_TheirNumbersLeaveAGap()
    {
        var b = new IngressBatcher(Settings(datagrams: 1), Group, origin: 7, TestActor);
        for (int n = 0; n < IngressBatcher.MaxQueued + 5; n++) Offer(b, 10, n); // nothing taken: the queue fills
        b.OnBatchEnd();
        Assert.Equal(5, b.Dropped);
        var envelopes = Envelopes(IngressBatcher.MaxQueued);
        b.Taken(1 + 4 + 2 + 2 + 10); // one envelope taken: its body is one record (IPv4 source, 10-byte payload)
        Offer(b, 10, 99);
        b.OnBatchEnd();
        Assert.Equal(IngressBatcher.MaxQueued + 5L, ExpectMsg<BridgeBatch>().FirstSequence); // after the gap of 5
        Assert.Equal(Enumerable.Range(0, IngressBatcher.MaxQueued).Select(n => (long)n), envelopes.Select(e => e.First));
    }
}
