using System.Net;
using System.Text;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>recvmmsg: every datagram arrives, in order per source, with the right source and metadata.</summary>
public abstract class BatchReceiveTests : SocketTestBase
{
    private readonly LabFamily _f;

    protected BatchReceiveTests(LabFamily family)
    {
        LabNet.Require();
        _f = family;
    }

    [Fact]
    public void ReceiveBatch_ThreeSources_DeliversEveryDatagramInOrderPerSource()
    {
        IPAddress group = _f.NewGroup();
        var rx = Receiver(_f, out int port);
        rx.JoinGroup(group, LabNet.Rx0);
        var senders = _f.Tx0Sources.Select(s => Sender(_f, s, LabNet.Tx0)).ToArray();
        const int perSource = 40;
        for (int i = 0; i < perSource; i++)
        {
            foreach (var tx in senders) Send(tx, group, port, i.ToString());
        }

        using var batch = new DatagramBatch(16);
        var bySource = _f.Tx0Sources.ToDictionary(s => s, _ => new List<int>());
        int calls = 0, total = 0;
        while (total < perSource * senders.Length)
        {
            BatchReceiveResult r = rx.ReceiveBatch(batch, Arrival);
            Assert.Equal(ReceiveStatus.Received, r.Status);
            Assert.InRange(r.Count, 1, 16);
            calls++;
            for (int i = 0; i < r.Count; i++)
            {
                var source = (IPEndPoint)batch.GetSource(i)!;
                bySource[source.Address].Add(int.Parse(Encoding.ASCII.GetString(batch.Payload(i))));
                Assert.Equal(LabNet.Index(LabNet.Rx0), batch[i].InterfaceIndex);
                Assert.True(batch[i].DestinationEquals(group));
                Assert.Equal(1, batch[i].HopLimit);
            }
            total += r.Count;
        }
        foreach (var (_, sequence) in bySource) Assert.Equal(Enumerable.Range(0, perSource), sequence);
        Assert.True(calls < total, $"{calls} calls for {total} datagrams: no batching happened");
        Assert.Equal(ReceiveStatus.TimedOut, rx.ReceiveBatch(batch, TimeSpan.Zero).Status);
        Assert.Equal(total, rx.Statistics.DatagramsReceived);
    }

    [Fact]
    public void ReceiveBatch_DatagramLargerThanSlot_IsReportedTruncatedWithRealLength()
    {
        var rx = Receiver(_f, out int port);
        var tx = Create(_f.Family);
        tx.Bind(new IPEndPoint(_f.Loopback, 0));
        Assert.Equal(SendStatus.Sent, tx.SendTo(new byte[100], new IPEndPoint(_f.Loopback, port), Arrival).Status);
        Assert.Equal(SendStatus.Sent, tx.SendTo(Array.Empty<byte>(), new IPEndPoint(_f.Loopback, port), Arrival).Status);
        using var batch = new DatagramBatch(4, datagramSize: 8);
        int seen = 0;
        var results = new List<(int Bytes, int Length, bool Truncated)>();
        while (seen < 2)
        {
            var r = rx.ReceiveBatch(batch, Arrival);
            Assert.Equal(ReceiveStatus.Received, r.Status);
            for (int i = 0; i < r.Count; i++) results.Add((batch[i].BytesReceived, batch[i].DatagramLength, batch[i].Truncated));
            seen += r.Count;
        }
        Assert.Equal([(8, 100, true), (0, 0, false)], results);
        Assert.Equal(1, rx.Statistics.Truncated);
    }

    [Fact]
    public void ReceiveBatch_AfterDispose_ReturnsClosed()
    {
        var rx = Receiver(_f, out _);
        using var batch = new DatagramBatch(2);
        rx.Dispose();
        Assert.Equal(ReceiveStatus.Closed, rx.ReceiveBatch(batch, Arrival).Status);
    }
}

[Trait("Area", "Kernel")]
public sealed class BatchReceiveTestsV4() : BatchReceiveTests(LabFamily.V4);

[Trait("Area", "Kernel")]
public sealed class BatchReceiveTestsV6() : BatchReceiveTests(LabFamily.V6);
