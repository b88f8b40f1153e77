using System.Net;
using System.Text;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>sendmmsg: every datagram of a batch arrives, in order, from the right source; a refused one stops the rest.</summary>
public abstract class BatchSendTests : SocketTestBase
{
    private readonly LabFamily _f;

    protected BatchSendTests(LabFamily family)
    {
        LabNet.Require();
        _f = family;
    }

    [Fact]
    public void SendBatch_ToAGroup_EveryDatagramArrivesInOrderFromTheSource()
    {
        IPAddress group = _f.NewGroup();
        var rx = Receiver(_f, out int port);
        rx.SetReceiveBufferSize(1 << 20);
        rx.JoinGroup(group, LabNet.Rx0);
        var tx = Sender(_f, _f.Tx0Sources[1], LabNet.Tx0);
        var batch = new DatagramSendBatch(64);
        var to = new IPEndPoint(group, port);
        int total = 0;
        for (int round = 0; round < 3; round++)
        {
            batch.Clear();
            while (batch.TryAdd(Encoding.ASCII.GetBytes((total + batch.Count).ToString()), to)) { }
            Assert.Equal(64, batch.Count);
            BatchSendResult r = tx.SendBatch(batch, Arrival);
            Assert.Equal((SendStatus.Sent, 64), (r.Status, r.Sent));
            total += r.Sent;
        }
        Assert.Equal(192, tx.Statistics.DatagramsSent);
        for (int i = 0; i < total; i++)
        {
            var got = Next(rx);
            Assert.Equal(i.ToString(), got.Text);
            Assert.Equal(_f.Tx0Sources[1], got.Source.Address);
            Assert.Equal(LabNet.Index(LabNet.Rx0), got.Result.InterfaceIndex);
        }
    }

    [Fact]
    public void SendBatch_ARefusedDatagram_StopsTheBatchThere_AndSaysWhy()
    {
        var rx = Receiver(_f, out int port);
        var tx = Create(_f.Family);
        var batch = new DatagramSendBatch(8);
        batch.TryAdd("a"u8, new IPEndPoint(_f.Loopback, port));
        batch.TryAdd("b"u8, new IPEndPoint(_f.Loopback, port));
        batch.TryAdd("bad"u8, new IPEndPoint(_f.Loopback, 0)); // port 0: EINVAL
        batch.TryAdd("c"u8, new IPEndPoint(_f.Loopback, port));
        BatchSendResult r = tx.SendBatch(batch, Arrival);
        Assert.Equal((SendStatus.Error, 2, "EINVAL"), (r.Status, r.Sent, r.ErrorName));
        Assert.Equal("a", Next(rx).Text);
        Assert.Equal("b", Next(rx).Text);
        Assert.False(HasQueued(rx));
        AssertStillWorks(tx, _f);
    }

    /// <summary>Segment i of <paramref name="segments"/>: its index as text, padded with '.' to <paramref name="size"/> (the last one shorter).</summary>
    private static byte[] Segments(int segments, int size, int lastSize)
    {
        var data = new byte[(segments - 1) * size + lastSize];
        data.AsSpan().Fill((byte)'.');
        for (int i = 0; i < segments; i++) Encoding.ASCII.GetBytes(i.ToString()).CopyTo(data, i * size);
        return data;
    }

    [Theory]
    [InlineData(64)]
    [InlineData(1200)]
    public void SendSegmented_OneCallToAGroup_ArrivesAsSeparateDatagramsInOrder_TheLastShorter(int size)
    {
        IPAddress group = _f.NewGroup();
        var rx = Receiver(_f, out int port);
        rx.SetReceiveBufferSize(1 << 20);
        rx.JoinGroup(group, LabNet.Rx0);
        var tx = Sender(_f, _f.Tx0Sources[2], LabNet.Tx0);
        int segments = Math.Min(DatagramSocket.MaxSegments, 60000 / size);
        byte[] data = Segments(segments, size, lastSize: size / 2);
        BatchSendResult r = tx.SendSegmented(data, size, new IPEndPoint(group, port), Arrival);
        Assert.Equal((SendStatus.Sent, segments), (r.Status, r.Sent));
        Assert.Equal(1, tx.Statistics.SendSystemCalls);
        Assert.Equal(0, tx.Statistics.SegmentationFallbacks); // the veth offloads: one call, no fallback
        byte[] buffer = new byte[2048];
        for (int i = 0; i < segments; i++)
        {
            ReceiveResult got = rx.ReceiveFrom(buffer, out EndPoint? source, Arrival);
            Assert.Equal(ReceiveStatus.Received, got.Status);
            Assert.Equal(i == segments - 1 ? size / 2 : size, got.BytesReceived);
            Assert.StartsWith(i.ToString() + ".", Encoding.ASCII.GetString(buffer, 0, got.BytesReceived));
            Assert.Equal(_f.Tx0Sources[2], ((IPEndPoint)source!).Address);
        }
        Assert.False(HasQueued(rx));
    }

    [Fact]
    public void SendSegmented_SegmentsLongerThanTheMtu_FallBackToOneSendEach_AndStillArrive()
    {
        // Multicast out of the 1500-byte veth: a 3000-byte segment cannot be offloaded (EINVAL), so each
        // goes alone (fragmented). Unicast between lab addresses would take lo (MTU 65536) instead.
        IPAddress group = _f.NewGroup();
        var rx = Receiver(_f, out int port);
        rx.SetReceiveBufferSize(1 << 20);
        rx.JoinGroup(group, LabNet.Rx0);
        var tx = Sender(_f, _f.Tx0Sources[0], LabNet.Tx0);
        byte[] data = Segments(4, 3000, lastSize: 3000);
        BatchSendResult r = tx.SendSegmented(data, 3000, new IPEndPoint(group, port), Arrival);
        Assert.Equal((SendStatus.Sent, 4, (string?)null), (r.Status, r.Sent, r.ErrorName));
        Assert.Equal(1, tx.Statistics.SegmentationFallbacks);
        byte[] buffer = new byte[4096];
        for (int i = 0; i < 4; i++)
        {
            ReceiveResult got = rx.ReceiveFrom(buffer, (SocketAddress?)null, Arrival);
            Assert.Equal(3000, got.BytesReceived);
            Assert.StartsWith(i + ".", Encoding.ASCII.GetString(buffer, 0, 8));
        }
    }

    [Fact]
    public void SendSegmented_BadInput_ThrowsNamingTheLimit_AndSendsNothing()
    {
        var rx = Receiver(_f, out int port);
        var tx = Create(_f.Family);
        var to = new IPEndPoint(_f.Loopback, port);
        var tooMany = Assert.Throws<DatagramSocketException>(() => tx.SendSegmented(new byte[(DatagramSocket.MaxSegments + 1) * 10], 10, to, Arrival));
        Assert.Equal(("SendSegmented", DatagramSocketError.OutOfRange), (tooMany.Operation, tooMany.Error));
        var zero = Assert.Throws<DatagramSocketException>(() => tx.SendSegmented(new byte[10], 0, to, Arrival));
        Assert.Equal(DatagramSocketError.OutOfRange, zero.Error);
        Assert.False(HasQueued(rx));
        Assert.Equal(0, tx.Statistics.DatagramsSent);
        AssertStillWorks(tx, _f);
    }

    [Fact]
    public void DatagramSendBatch_TooLargeOrFull_IsRefusedWithoutSending()
    {
        var batch = new DatagramSendBatch(2, maxDatagramSize: 16);
        var to = new IPEndPoint(_f.Loopback, 9);
        Assert.False(batch.TryAdd(new byte[17], to));
        Assert.True(batch.TryAdd(new byte[16], to));
        Assert.True(batch.TryAdd(ReadOnlySpan<byte>.Empty, to));
        Assert.False(batch.TryAdd(new byte[1], to));
        Assert.Equal(2, batch.Count);
    }
}

[Trait("Area", "Kernel")]
public sealed class BatchSendTestsV4() : BatchSendTests(LabFamily.V4);

[Trait("Area", "Kernel")]
public sealed class BatchSendTestsV6() : BatchSendTests(LabFamily.V6);
