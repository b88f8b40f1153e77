using System.Net;
using System.Text;
using Dgram.Rx;
using Dgram.Rx.Internal;
using Xunit;

namespace Dgram.Actors.Tests.Rx;

/// <summary>
/// A pooled lease is reused after it is disposed: a stale second Dispose (or a read) through the old
/// lease must not touch the subscriber who holds the slot now.
/// </summary>
[Trait("Area", "Security")]
public sealed class LeaseGenerationTests
{
    private static readonly IPEndPoint From = new(IPAddress.Parse("198.51.100.2"), 4000);

    private static DatagramLease Lease(LeaseConverter converter, string text, long sequence) =>
        converter.Convert(new RawDatagram { Payload = Encoding.ASCII.GetBytes(text), Source = From, Sequence = sequence });

    [Fact]
    public void StaleDispose_AfterTheSlotWasRentedAgain_IsANoOp_AndTheLiveLeaseKeepsItsBytes()
    {
        var pool = new LeasePool(maxPayload: 64, buffersPerSize: 4);
        var converter = new LeaseConverter(pool);

        DatagramLease first = Lease(converter, "first subscriber", 1);
        first.Dispose();
        DatagramLease live = Lease(converter, "live subscriber", 2); // the same slot, rented again
        Assert.Equal((2, 1), (pool.Rented, pool.Returned));

        first.Dispose(); // stale: the slot now belongs to the live lease

        Assert.Equal(1, pool.Returned);
        Assert.Equal(1, pool.Outstanding);
        Assert.Equal("live subscriber", Encoding.ASCII.GetString(live.Span));
        Assert.Equal(2, live.Sequence);
        // Had the stale dispose returned the live buffer, the next rent would write over it.
        DatagramLease next = Lease(converter, "next subscriber", 3);
        Assert.Equal("live subscriber", Encoding.ASCII.GetString(live.Span));
        Assert.Equal("next subscriber", Encoding.ASCII.GetString(next.Span));
        // The stale lease fails clearly instead of showing someone else's datagram.
        Assert.Throws<ObjectDisposedException>(() => first.Span.Length);
        Assert.Throws<ObjectDisposedException>(() => first.Sequence);

        live.Dispose();
        live.Dispose(); // idempotent
        next.Dispose();
        Assert.Equal((3, 3, 0), (pool.Rented, pool.Returned, pool.Outstanding));
    }
}
