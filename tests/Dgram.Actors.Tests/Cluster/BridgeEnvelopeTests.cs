using System.Net;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Dgram.Cluster.Internal;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace Dgram.Actors.Tests.Cluster;

/// <summary>
/// The envelope's binary wire format (issue 16, item 6): what Akka's serialization of the registered serializer
/// writes is read back equal, record by record; every malformed envelope (a peer's input) is refused with a
/// <see cref="SerializationException"/>, never an index error or a partial envelope.
/// </summary>
[Trait("Area", "Cluster")]
public sealed class BridgeEnvelopeTests : IDisposable
{
    private readonly ActorSystem _system = ActorSystem.Create("envelope", ConfigurationFactory.ParseString("""
        akka.actor.serializers.dgram-bridge = "Dgram.Cluster.Internal.BridgeSerializer, Dgram.Cluster"
        akka.actor.serialization-bindings {
          "Dgram.Cluster.Internal.BridgeBatch, Dgram.Cluster" = dgram-bridge
          "Dgram.Cluster.Internal.BridgeAck, Dgram.Cluster" = dgram-bridge
        }
        akka.loglevel = WARNING
        """));

    public void Dispose() => _system.Terminate().Wait();

    private static BridgeBatch Batch(IReadOnlyList<(IPEndPoint Source, byte[] Payload)> datagrams, long first = 7)
    {
        var body = new byte[datagrams.Sum(d => BridgeBatch.RecordOverhead + d.Payload.Length)];
        int at = 0;
        foreach (var (source, payload) in datagrams) at += BridgeBatch.Write(body.AsSpan(at), source.Address.GetAddressBytes(), source.Port, payload);
        return new BridgeBatch("quotes", "site-a", 0x1234_5678_9abc_def0, first, datagrams.Count, body[..at], confirmed: first - 2);
    }

    private static List<(IPEndPoint, byte[])> Records(BridgeBatch b)
    {
        var list = new List<(IPEndPoint, byte[])>();
        BridgeBatch.RecordReader r = b.Records();
        while (r.Next(out ReadOnlySpan<byte> address, out int port, out ReadOnlyMemory<byte> payload)) list.Add((BridgeBatch.Source(address, port), payload.ToArray()));
        return list;
    }

    private object RoundTrip(object message)
    {
        var serialization = _system.Serialization;
        Akka.Serialization.Serializer serializer = serialization.FindSerializerFor(message);
        Assert.IsType<BridgeSerializer>(serializer);
        byte[] bytes = serializer.ToBinary(message);
        return serialization.Deserialize(bytes, serializer.Identifier, ((Akka.Serialization.SerializerWithStringManifest)serializer).Manifest(message));
    }

    [Fact]
    public void ABatch_RoundTrips_WithEverySourceAndPayload()
    {
        var datagrams = new List<(IPEndPoint, byte[])>
        {
            (new IPEndPoint(IPAddress.Parse("203.0.113.19"), 40000), "first"u8.ToArray()),
            (new IPEndPoint(IPAddress.Parse("fd00:d9a:16:1::3"), 5), []),
            (new IPEndPoint(IPAddress.Parse("203.0.113.20"), 65535), new byte[65_535]),
        };
        var back = Assert.IsType<BridgeBatch>(RoundTrip(Batch(datagrams)));
        Assert.Equal(("quotes", "site-a", 0x1234_5678_9abc_def0L, 7L, 3, 9L, 5L), (back.Group, back.Site, back.Origin, back.FirstSequence, back.Count, back.LastSequence, back.Confirmed));
        Assert.Equal(datagrams.Select(d => (d.Item1, Convert.ToHexString(d.Item2))), Records(back).Select(d => (d.Item1, Convert.ToHexString(d.Item2))));
    }

    [Fact]
    public void AnAck_RoundTrips() => Assert.Equal(new BridgeAck("b", -5, 42), RoundTrip(new BridgeAck("b", -5, 42)));

    [Fact]
    public void ARandomBatch_RoundTrips() =>
        Prop.ForAll(Arb.From(Gen.ListOf(Gen.Elements(0, 1, 17, 200, 1400).SelectMany(n => Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), n)))
                .Where(l => l.Any() && l.Sum(p => p.Length + BridgeBatch.RecordOverhead) < 100_000)), payloads =>
        {
            var datagrams = payloads.Select((p, i) => (new IPEndPoint(i % 2 == 0 ? IPAddress.Parse("203.0.113.19") : IPAddress.Parse("fd00:d9a::1"), 1000 + i), p)).ToList();
            var back = (BridgeBatch)RoundTrip(Batch(datagrams));
            return Records(back).Select(d => Convert.ToHexString(d.Item2)).SequenceEqual(payloads.Select(Convert.ToHexString));
        }).QuickCheckThrowOnFailure();

    public static TheoryData<string, Func<byte[], byte[]>> Malformed() => new()
    {
        { "cut short", b => b[..^1] },
        { "a byte after the end", b => [.. b, 0] },
        { "unknown version", b => { var c = (byte[])b.Clone(); c[0] = 9; return c; } },
        { "a record longer than the body", b => { var c = (byte[])b.Clone(); c[^3] = 0xff; return c; } }, // the last record's length (its payload is 2 bytes)
        { "an address length of 5", b => { var c = (byte[])b.Clone(); c[^(2 + 4 + 4 + 1)] = 5; return c; } },
        { "a count of zero", b => { var c = (byte[])b.Clone(); int at = 1 + 2 + 6 + 2 + 6 + 8 + 8 + 8; c[at + 3] = 0; return c; } },
        { "a body length past the end", b => { var c = (byte[])b.Clone(); int at = 1 + 2 + 6 + 2 + 6 + 8 + 8 + 8 + 4; c[at] = 0x7f; return c; } },
        { "a confirmed number at or past the first", b => { var c = (byte[])b.Clone(); int at = 1 + 2 + 6 + 2 + 6 + 8 + 8; c.AsSpan(at, 8).Clear(); c[at + 7] = 5; return c; } },
        { "a group name with a line break", b => { var c = (byte[])b.Clone(); c[1 + 2] = (byte)'\n'; return c; } },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void AMalformedBatch_IsRefused(string what, Func<byte[], byte[]> spoil)
    {
        var serializer = new BridgeSerializer((ExtendedActorSystem)_system);
        BridgeBatch batch = Batch([(new IPEndPoint(IPAddress.Parse("203.0.113.19"), 1), "ab"u8.ToArray())]);
        batch = new BridgeBatch("quotes", "site-a", 1, 0, 1, batch.Body);
        byte[] good = serializer.ToBinary(batch);
        Assert.IsType<BridgeBatch>(serializer.FromBinary(good, "B")); // the spoiled bytes differ only by what they say
        Assert.Throws<SerializationException>(() => serializer.FromBinary(spoil(good), "B"));
        _ = what;
    }

    [Fact]
    public void AnUnknownManifest_IsRefused() =>
        Assert.Throws<SerializationException>(() => new BridgeSerializer((ExtendedActorSystem)_system).FromBinary([1], "X"));
}
